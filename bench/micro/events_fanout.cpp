// events_fanout: the loop's CPU per job with N GET /v1/events streams open, without sockets.
//
// Drives the real JobTable, AllEventsHub and AllEventsStreams on one io_context. Each stream
// has a reader coroutine doing what the HTTP session does with it (next() until it ends), minus
// the socket write. Jobs are echo jobs with 100 bytes of params taken through create, start and
// finish (three state events each, the result rendered as jobd renders it), `burst` of them
// between two turns of the loop, as a busy server handles many requests per turn. Prints the
// loop thread's CPU per job with no stream and with N, and their ratio (issue 17: <= 2x at 500).
// A real server adds the writes (bench/events_fanout, with sockets).
//
// Build: part of the CMake build (target events_fanout).
// Run:   build/bench/events_fanout [subscribers=500] [jobs=20000] [burst=50] [filtered=0]
//        `filtered` of the streams ask for ?state=succeeded (the others take every event).
#include <time.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "api/event_stream.hpp"
#include "jobs/record.hpp"
#include "kinds/builtin.hpp"

namespace {

using namespace jobd;
namespace asio = boost::asio;

double thread_cpu_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

long arg_or(int argc, char** argv, int i, long fallback) {
  return argc > i ? std::strtol(argv[i], nullptr, 10) : fallback;
}

asio::awaitable<void> read_stream(http::BodyStream& stream, std::uint64_t& bytes) {
  for (;;) {
    auto piece = co_await stream.next();
    if (!piece) co_return;
    bytes += piece->size();
  }
}

struct Run {
  double cpu_us_per_job = 0;
  std::uint64_t bytes = 0;
};

Run run(long subscribers, long filtered, long jobs, long burst) {
  asio::io_context loop(1);
  const kinds::Kind echo = kinds::make_echo_kind();
  const nlohmann::json params = {{"data", std::string(89, 'x')}};  // 100 bytes of JSON text
  jobs::JobTable table({.max_finished = 10000, .retention = std::chrono::hours(1), .event_history = 1024});
  api::AllEventsHub hub(loop.get_executor(), table);
  std::vector<std::unique_ptr<api::AllEventsStream>> streams;
  std::uint64_t bytes = 0;
  for (long i = 0; i < subscribers; ++i) {
    std::optional<proto::JobState> state;
    if (i < filtered) state = proto::JobState::succeeded;
    streams.push_back(std::make_unique<api::AllEventsStream>(loop.get_executor(), api::EventStreamOptions{},
                                                             hub, std::nullopt, state));
    asio::co_spawn(loop, read_stream(*streams.back(), bytes), asio::detached);
  }
  loop.poll();  // every reader waits for its first event

  const double start = thread_cpu_seconds();
  for (long done = 0; done < jobs;) {
    for (long i = 0; i < burst && done < jobs; ++i, ++done) {
      const auto now = jobs::Clock::now();
      const auto& job = table.create(echo, proto::Executor::loop, jobs::to_json_text(params),
                                     std::chrono::minutes(5), std::nullopt, now);
      table.start(job.seq, nullptr, now);
      table.finish(job.seq, proto::Outcome::success(params), now);
    }
    loop.poll();  // the readers take what was queued, as the sessions would
  }
  const double cpu = thread_cpu_seconds() - start;
  for (auto& stream : streams) stream->close();
  loop.poll();
  return {cpu * 1e6 / static_cast<double>(jobs), bytes};
}

}  // namespace

int main(int argc, char** argv) {
  const long subscribers = arg_or(argc, argv, 1, 500);
  const long jobs = arg_or(argc, argv, 2, 20000);
  const long burst = std::max(1L, arg_or(argc, argv, 3, 50));
  const long filtered = arg_or(argc, argv, 4, 0);
  run(0, 0, jobs / 10, burst);  // warm the allocator and the caches
  const Run none = run(0, 0, jobs, burst);
  const Run many = run(subscribers, filtered, jobs, burst);
  std::printf(
      "events_fanout jobs=%ld burst=%ld cpu_us_per_job_0=%.2f subscribers=%ld filtered=%ld "
      "cpu_us_per_job_n=%.2f ratio=%.2f bytes_per_job_n=%.0f\n",
      jobs, burst, none.cpu_us_per_job, subscribers, filtered, many.cpu_us_per_job,
      many.cpu_us_per_job / none.cpu_us_per_job, static_cast<double>(many.bytes) / static_cast<double>(jobs));
  return 0;
}
