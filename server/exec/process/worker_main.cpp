#include "exec/process/worker_main.hpp"

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

namespace jobd::exec {

namespace {

// Progress frames closer together than this are dropped: a kind may report as often as it
// likes without turning the socket into a firehose. Also the delay before the first report,
// so that short jobs never send any.
constexpr auto kProgressInterval = std::chrono::milliseconds(50);
// Bytes read from the socket at once; a RUN frame is usually a few dozen bytes.
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;

bool write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// RLIMIT_CPU counts the whole process's CPU time; moving the soft limit to "used so far + the
// budget" before each job makes it a per-job budget. The hard limit stays where it was, so the
// soft one can move up again for the next job.
void arm_cpu_budget(std::uint64_t seconds) {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return;
  const auto used = static_cast<std::uint64_t>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + 1;
  rlimit limit{};
  if (::getrlimit(RLIMIT_CPU, &limit) != 0) return;
  limit.rlim_cur = used + seconds;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_cur > limit.rlim_max) limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_CPU, &limit);
}

}  // namespace

proto::Result run_job(const proto::Run& run, const kinds::KindRegistry& kinds,
                      const kinds::ProgressFn& progress, std::chrono::microseconds yield_every) {
  const kinds::Kind* kind = kinds.find(run.kind);
  if (kind == nullptr || !kind->run_on_cpu) {
    return proto::Result::failure(run.job_id, std::string(proto::job_error::internal),
                                  "worker has no CPU kind '" + run.kind + "'");
  }
  // Nothing in a worker can request a stop: ending a job early is done by killing the worker.
  kinds::CpuContext ctx{std::stop_token{}, progress};
  ctx.yield_every = yield_every;
  proto::Result result{run.job_id, {}};
  try {
    result.outcome = kind->run_on_cpu(run.params, ctx);
  } catch (...) {
    result.outcome = proto::outcome_from_exception(std::current_exception());
  }
  return result;
}

int run_worker(int fd, const kinds::KindRegistry& kinds, std::uint64_t cpu_seconds_per_job,
               std::chrono::microseconds yield_every) {
  // Allocated before the hello, so that a worker whose limits leave it unable to work dies
  // before it counts as ready (jobd then backs off instead of respawning in a loop).
  proto::FrameDecoder decoder;
  std::string buffer(kReadChunk, '\0');
  if (!write_all(fd, proto::encode(proto::Hello{::getpid(), proto::kProtocolVersion}))) return 1;
  // Between jobs the worker sleeps in poll(), not in a blocking read. A reader blocked in read()
  // on a Unix socket shares its wait queue with the socket's write-space wake-up, so it was
  // woken for nothing each time jobd read a batch of its results; poll's wait is woken only for
  // the events it asked for. Spinning on the socket for a while first (as the thread pool spins
  // before it parks) was measured and lost: on two cores a spinning idle worker takes the CPU
  // from the loop thread that would send it the next job (-25 % jobs/s).
  for (;;) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd readable{fd, POLLIN, 0};
      if (::poll(&readable, 1, -1) < 0 && errno != EINTR) {
        std::fprintf(stderr, "worker: poll: %s\n", std::strerror(errno));
        return 1;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return 0;  // jobd closed the socket: retire
    if (n < 0) {
      std::fprintf(stderr, "worker: recv: %s\n", std::strerror(errno));
      return 1;
    }
    decoder.feed(buffer.data(), static_cast<std::size_t>(n));
    for (;;) {
      proto::DecodeResult next = decoder.next();
      if (std::holds_alternative<proto::NeedMoreBytes>(next)) break;
      if (const auto* error = std::get_if<proto::DecodeError>(&next)) {
        std::fprintf(stderr, "worker: bad frame from jobd: %s (%s)\n",
                     std::string(proto::to_string(*error)).c_str(),
                     std::string(decoder.error_detail()).c_str());
        return 2;
      }
      auto* run = std::get_if<proto::Run>(&std::get<proto::Message>(next));
      if (run == nullptr) {
        std::fprintf(stderr, "worker: unexpected message from jobd\n");
        return 2;
      }
      if (cpu_seconds_per_job > 0) arm_cpu_budget(cpu_seconds_per_job);
      auto last_report = std::chrono::steady_clock::now();
      bool connected = true;
      const kinds::ProgressFn progress = [&](double fraction, std::string_view text) {
        const auto now = std::chrono::steady_clock::now();
        if (!connected || now - last_report < kProgressInterval) return;
        last_report = now;
        // jobd's decoder rejects a fraction outside [0, 1] (NaN included) as a broken frame.
        const double bounded = fraction >= 0.0 ? std::min(fraction, 1.0) : 0.0;
        connected = write_all(fd, proto::encode(proto::Progress{run->job_id, bounded, std::string(text)}));
      };
      const proto::Result result = run_job(*run, kinds, progress, yield_every);
      if (!connected || !write_all(fd, proto::encode(result))) return 1;
    }
  }
}

}  // namespace jobd::exec
