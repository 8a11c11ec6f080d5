#include "exec/process_pool.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <csignal>
#include <cstring>
#include <optional>

#include "kinds/kind.hpp"

namespace jobd::exec {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// Bytes read from a worker's socket or output pipe at once.
constexpr std::size_t kReadChunk = 64 * 1024;
// A worker's output line longer than this is logged in pieces, so a worker that prints
// without newlines cannot grow jobd's memory.
constexpr std::size_t kMaxLogLine = 4096;
// Workers dying before they said hello (a broken limit, a fork failure) are respawned with
// an exponential delay from the first to the cap, so a start-up crash loop cannot eat a core.
constexpr auto kFirstBackoff = std::chrono::milliseconds(10);
constexpr auto kMaxBackoff = std::chrono::seconds(1);
// At shutdown: how long idle workers get to exit after EOF, and the fork server to answer
// what it was doing, before SIGKILL.
constexpr auto kExitGrace = std::chrono::milliseconds(1000);

void kill_group(pid_t pid, int pidfd) {
  // The group first (the worker leads its own group, so this catches anything it started),
  // then the worker itself through its pidfd, which is right even before its setpgid ran.
  ::kill(-pid, SIGKILL);
  ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

void log_escaped(const std::exception_ptr& error, const char* what) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("process pool: {} ended by an exception: {}", what, e.what());
  } catch (...) {
    spdlog::error("process pool: {} ended by an unknown exception", what);
  }
}

}  // namespace

std::string describe_worker_exit(int code, int status, const WorkerLimits& limits) {
  if (code == CLD_EXITED) return "worker exited with status " + std::to_string(status);
  if (code == CLD_KILLED || code == CLD_DUMPED) {
    const char* abbrev = ::sigabbrev_np(status);
    std::string text = "worker killed by signal " + std::to_string(status) + " (" +
                       (abbrev != nullptr ? "SIG" + std::string(abbrev) : std::string("unknown")) + ")";
    if (status == SIGXCPU && limits.cpu_seconds > 0) {
      text += ": CPU time limit of " + std::to_string(limits.cpu_seconds) + " s per job (--worker-cpu)";
    }
    return text;
  }
  return "worker ended (si_code " + std::to_string(code) + ", status " + std::to_string(status) + ")";
}

struct ProcessExecutor::Worker : std::enable_shared_from_this<Worker> {
  enum class State {
    starting,  // forked, hello not yet received
    idle,
    busy,
    dying,   // killed, broken or retiring: gets no job; its exit is expected
    exited,  // reaped
  };
  struct Job {
    JobSeq seq;
    std::string job_id;
    std::shared_ptr<JobControl> control;
  };

  Worker(const asio::any_io_executor& loop, const SpawnedWorker& spawned)
      : pid(spawned.pid),
        socket(loop, spawned.socket),
        output(loop, spawned.output),
        pidfd(loop, spawned.pidfd) {}

  pid_t pid;
  asio::posix::stream_descriptor socket;
  asio::posix::stream_descriptor output;
  asio::posix::stream_descriptor pidfd;
  proto::FrameDecoder decoder;
  State state = State::starting;
  bool counted = true;  // one of the M workers; false once it is on its way out
  std::uint64_t jobs_started = 0;
  std::optional<Job> job;
  std::string outgoing;               // the RUN frame being written
  std::optional<std::string> broken;  // why it was killed for a protocol error
  Clock::time_point requested;
  std::optional<Clock::time_point> replaces_death;
};

ProcessExecutor::ProcessExecutor(asio::any_io_executor loop, JobSink& sink, ForkServer& fork_server,
                                 ProcessPoolOptions options)
    : loop_(std::move(loop)),
      sink_(sink),
      fork_server_(fork_server),
      options_(options),
      control_(loop_, fork_server.control_fd()),
      backoff_(loop_) {
  start();
}

ProcessExecutor::~ProcessExecutor() { shutdown(); }

void ProcessExecutor::start() {
  asio::co_spawn(loop_, receive_spawns(), [](std::exception_ptr e) { log_escaped(e, "spawn receiver"); });
  top_up();
}

// ---- supervision ---------------------------------------------------------------------------

std::size_t ProcessExecutor::counted_workers() const {
  std::size_t count = 0;
  for (const auto& [pid, worker] : workers_) count += worker->counted ? 1 : 0;
  return count;
}

void ProcessExecutor::top_up(std::optional<Clock::time_point> death) {
  if (shut_down_ || !fork_server_alive_) return;
  if (backing_off_) return;  // the timer calls again
  if (startup_failures_ > 0) {
    // Spawn one at a time while workers die at start, each after a growing delay.
    if (!pending_spawns_.empty()) return;
    const auto delay =
        std::min<Clock::duration>(kFirstBackoff * (1u << std::min(startup_failures_ - 1, 7u)), kMaxBackoff);
    backing_off_ = true;
    backoff_.expires_after(delay);
    backoff_.async_wait([this](boost::system::error_code error) {
      if (error) return;
      backing_off_ = false;
      if (counted_workers() + pending_spawns_.size() < options_.workers) request_spawn(std::nullopt);
    });
    return;
  }
  while (counted_workers() + pending_spawns_.size() < options_.workers) request_spawn(death);
}

void ProcessExecutor::request_spawn(std::optional<Clock::time_point> death) {
  const std::uint64_t token = ++next_token_;
  pending_spawns_.emplace(token, PendingSpawn{Clock::now(), death});
  if (unsent_tokens_.empty() && fork_server_.request(token)) return;
  // The control socket is full (the server is slow or gone): send when it can take more.
  unsent_tokens_.push_back(token);
  if (unsent_tokens_.size() == 1) flush_spawn_requests();
}

void ProcessExecutor::flush_spawn_requests() {
  control_.async_wait(asio::posix::stream_descriptor::wait_write, [this](boost::system::error_code error) {
    if (error || shut_down_ || !fork_server_alive_) return;
    while (!unsent_tokens_.empty() && fork_server_.request(unsent_tokens_.front()))
      unsent_tokens_.pop_front();
    if (!unsent_tokens_.empty()) flush_spawn_requests();
  });
}

asio::awaitable<void> ProcessExecutor::receive_spawns() {
  for (;;) {
    auto [error] = co_await control_.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    if (error || shut_down_) co_return;
    for (;;) {
      SpawnAnswer answer = fork_server_.receive();
      if (std::holds_alternative<NothingYet>(answer)) break;
      if (std::holds_alternative<ServerGone>(answer)) {
        fork_server_alive_ = false;
        spdlog::critical(
            "process pool: the fork server died; dead workers cannot be replaced and "
            "/readyz reports not ready");
        co_return;
      }
      if (auto* failed = std::get_if<SpawnFailed>(&answer)) {
        pending_spawns_.erase(failed->token);
        ++startup_failures_;
        spdlog::error("process pool: cannot start a worker: {}", std::strerror(failed->error));
        top_up();
        continue;
      }
      adopt(std::get<SpawnedWorker>(answer));
    }
  }
}

void ProcessExecutor::adopt(SpawnedWorker spawned) {
  auto worker = std::make_shared<Worker>(loop_, spawned);
  if (auto pending = pending_spawns_.extract(spawned.token); !pending.empty()) {
    worker->requested = pending.mapped().requested;
    worker->replaces_death = pending.mapped().replaces_death;
  } else {
    worker->requested = Clock::now();
  }
  workers_.emplace(worker->pid, worker);
  // Three waits per worker; each holds the worker, which goes when the last one ends.
  asio::co_spawn(loop_, reap(worker), [](std::exception_ptr e) { log_escaped(e, "reaper"); });
  asio::co_spawn(loop_, read_frames(worker), [](std::exception_ptr e) { log_escaped(e, "frame reader"); });
  asio::co_spawn(loop_, read_output(worker), [](std::exception_ptr e) { log_escaped(e, "output reader"); });
}

asio::awaitable<void> ProcessExecutor::read_frames(WorkerPtr worker) {
  std::vector<char> buffer(kReadChunk);
  for (;;) {
    auto [error, n] = co_await worker->socket.async_read_some(asio::buffer(buffer), use_tuple);
    // EOF or an error: the worker is gone or going; reap() reports it with its exit status.
    if (error || shut_down_) co_return;
    if (worker->state == Worker::State::dying || worker->state == Worker::State::exited) continue;
    worker->decoder.feed(buffer.data(), n);
    for (;;) {
      proto::DecodeResult next = worker->decoder.next();
      if (std::holds_alternative<proto::NeedMoreBytes>(next)) break;
      if (const auto* failure = std::get_if<proto::DecodeError>(&next)) {
        broken(*worker, std::string(proto::to_string(*failure)) + " (" +
                            std::string(worker->decoder.error_detail()) + ")");
        break;
      }
      auto& message = std::get<proto::Message>(next);
      if (std::holds_alternative<proto::Hello>(message)) {
        if (worker->state != Worker::State::starting) {
          broken(*worker, "second hello");
          break;
        }
        on_ready(*worker);
      } else if (auto* progress = std::get_if<proto::Progress>(&message)) {
        const auto& job = worker->job;
        if (job && progress->job_id == job->job_id && job->control &&
            job->control->wants_progress()) {
          sink_.on_progress(job->seq, progress->fraction, std::move(progress->text));
        }
      } else if (auto* result = std::get_if<proto::Result>(&message)) {
        if (worker->state != Worker::State::busy || !worker->job || result->job_id != worker->job->job_id) {
          broken(*worker, "result for job '" + result->job_id + "' it was not running");
          break;
        }
        on_result(*worker, std::move(*result));
      } else {
        broken(*worker, "unexpected run frame");
        break;
      }
      if (worker->state == Worker::State::dying) break;
    }
  }
}

asio::awaitable<void> ProcessExecutor::read_output(WorkerPtr worker) {
  std::vector<char> buffer(kReadChunk);
  std::string line;
  for (;;) {
    auto [error, n] = co_await worker->output.async_read_some(asio::buffer(buffer), use_tuple);
    if (error) {  // EOF once the worker and everything in its group are gone
      if (!line.empty() && !shut_down_) spdlog::info("worker {}: {}", worker->pid, line);
      co_return;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (buffer[i] == '\n' || line.size() >= kMaxLogLine) {
        spdlog::info("worker {}: {}", worker->pid, line);
        line.clear();
        if (buffer[i] == '\n') continue;
      }
      line += buffer[i];
    }
  }
}

asio::awaitable<void> ProcessExecutor::reap(WorkerPtr worker) {
  // A pidfd turns readable when its process has exited; waitid on it reaps exactly this child.
  // A readiness report is only a hint: Asio skips EPOLL_CTL_DEL when it closes a descriptor,
  // and while a subprocess child between vfork and exec shares jobd's files, that stale
  // registration can fire for whatever descriptor reuses the slot. So the exit is confirmed
  // with WNOWAIT (which reaps nothing) before anything is killed.
  for (;;) {
    auto [error] = co_await worker->pidfd.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    if (error || shut_down_) co_return;  // shutdown() reaps what is left
    siginfo_t peek{};
    const int peeked =
        ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(worker->pidfd.native_handle()), &peek,
                 WEXITED | WNOHANG | WNOWAIT);
    if (peeked != 0 || peek.si_pid != 0) break;  // exited (or an error the waitid below reports)
  }
  // Whatever the worker started dies with it: its group is still reserved while the worker is
  // an unreaped zombie, so this cannot hit a recycled group id.
  ::kill(-worker->pid, SIGKILL);
  siginfo_t info{};
  const int reaped = ::waitid(static_cast<idtype_t>(P_PIDFD),
                              static_cast<id_t>(worker->pidfd.native_handle()), &info, WEXITED | WNOHANG);
  if (reaped != 0 || info.si_pid == 0) {
    // Not expected (the pidfd said it exited); report the job as crashed all the same.
    spdlog::error("process pool: waitid on worker {}: {}", worker->pid,
                  reaped != 0 ? std::strerror(errno) : "not exited");
    info.si_code = CLD_KILLED;
    info.si_status = 0;
  }
  on_exit(*worker, info.si_code, info.si_status);
}

void ProcessExecutor::on_exit(Worker& worker, int code, int status) {
  const auto now = Clock::now();
  const bool was_counted = worker.counted;
  const auto previous = worker.state;
  worker.counted = false;
  worker.state = Worker::State::exited;
  remove_idle(worker);
  const std::string how = worker.broken ? "worker sent a broken frame: " + *worker.broken
                                        : describe_worker_exit(code, status, fork_server_.options().limits);
  if (worker.job) {
    const Worker::Job job = std::move(*worker.job);
    worker.job.reset();
    running_.erase(job.seq);
    spdlog::warn("worker {} died running job {}: {}", worker.pid, job.job_id, how);
    // (The record has the worker's pid from the job's start.)
    sink_.on_finished(job.seq, Outcome::failure(proto::job_error::crashed, how));
  } else if (previous != Worker::State::dying) {
    spdlog::warn("worker {} died while {}: {}", worker.pid,
                 previous == Worker::State::starting ? "starting" : "idle", how);
  }
  // A worker that never ran a job died of its start-up (a limit too tight, a broken system):
  // respawning it at once would only loop.
  if (previous == Worker::State::starting || (previous == Worker::State::idle && worker.jobs_started == 0)) {
    ++startup_failures_;
  }
  if (previous != Worker::State::dying || worker.broken) ++crashes_;
  workers_.erase(worker.pid);  // the coroutines still waiting on it hold it until they end
  if (was_counted) top_up(now);
}

void ProcessExecutor::kill(Worker& worker) {
  if (worker.state == Worker::State::exited) return;
  const bool was_counted = worker.counted;
  worker.counted = false;
  worker.state = Worker::State::dying;
  remove_idle(worker);
  kill_group(worker.pid, worker.pidfd.native_handle());
  if (was_counted) top_up(Clock::now());
}

void ProcessExecutor::retire(Worker& worker) {
  // Its replacement was asked for when its last job started. EOF on the socket ends it
  // cleanly; reap() collects it.
  ++recycles_;
  worker.state = Worker::State::dying;
  remove_idle(worker);
  ::shutdown(worker.socket.native_handle(), SHUT_RDWR);
}

void ProcessExecutor::broken(Worker& worker, std::string why) {
  spdlog::warn("worker {} sent a broken frame: {}; killing it", worker.pid, why);
  worker.broken = std::move(why);
  kill(worker);  // the job it holds is failed by on_exit, with the reason
}

void ProcessExecutor::on_ready(Worker& worker) {
  const auto now = Clock::now();
  const bool was_backing_off = startup_failures_ > 0;
  startup_failures_ = 0;
  if (worker.replaces_death) {
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(now - *worker.replaces_death).count();
    spdlog::info("worker {} ready, replacing a lost one (respawn {} us)", worker.pid, us);
  } else {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - worker.requested).count();
    spdlog::debug("worker {} ready ({} us after it was asked for)", worker.pid, us);
  }
  worker.state = Worker::State::idle;
  make_idle(worker);
  if (!pool_was_up_) {
    std::size_t up = 0;
    for (const auto& [pid, other] : workers_) {
      up += other->counted && other->state != Worker::State::starting ? 1 : 0;
    }
    if (up >= options_.workers) {
      pool_was_up_ = true;
      spdlog::info("process pool up: {} workers", up);
    }
  }
  // Workers start again: the rest of the pool need not wait for the back-off any more.
  if (was_backing_off) top_up();
}

// ---- dispatch ------------------------------------------------------------------------------

void ProcessExecutor::submit(JobTicket ticket) {
  if (shut_down_) {
    sink_.on_finished(ticket.seq, stopped_outcome(StopReason::shutdown));
    return;
  }
  if (!idle_.empty()) {
    Worker& worker = *idle_.back();
    idle_.pop_back();
    run_on(worker, std::move(ticket));
    return;
  }
  queue_.push_back(std::move(ticket));
}

void ProcessExecutor::make_idle(Worker& worker) {
  if (options_.max_jobs_per_worker > 0 && worker.jobs_started >= options_.max_jobs_per_worker) {
    retire(worker);
    return;
  }
  if (!queue_.empty()) {
    JobTicket ticket = std::move(queue_.front());
    queue_.pop_front();
    run_on(worker, std::move(ticket));
    return;
  }
  worker.state = Worker::State::idle;
  idle_.push_back(&worker);
}

void ProcessExecutor::run_on(Worker& worker, JobTicket ticket) {
  worker.state = Worker::State::busy;
  ++worker.jobs_started;
  worker.job = Worker::Job{ticket.seq, ticket.job_id, ticket.control};
  running_[ticket.seq] = &worker;
  if (options_.max_jobs_per_worker > 0 && worker.jobs_started >= options_.max_jobs_per_worker) {
    // Its last job: ask for the replacement now, so that it is ready when this one retires.
    worker.counted = false;
    top_up();
  }
  const std::int64_t deadline_ms =
      ticket.deadline == Clock::time_point::max()
          ? 0
          : std::chrono::duration_cast<std::chrono::milliseconds>(ticket.deadline.time_since_epoch()).count();
  worker.outgoing =
      proto::encode(proto::Run{ticket.job_id, ticket.kind->name, std::move(ticket.params), deadline_ms});
  send_run_frame(worker);
  sink_.on_started(ticket.seq, {{"worker_pid", worker.pid}});
}

void ProcessExecutor::send_run_frame(Worker& worker) {
  // An idle worker's socket buffer is empty, so the frame nearly always fits at once: write it
  // now, without a completion handler to allocate and dispatch (this is on every job's path).
  const ssize_t sent = ::send(worker.socket.native_handle(), worker.outgoing.data(), worker.outgoing.size(),
                              MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent == static_cast<ssize_t>(worker.outgoing.size())) return;
  // A worker that died fails the write; reap() reports the death, so errors are not handled
  // here. Only a full buffer (large params) leaves a remainder for Asio to write when it can.
  if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return;
  const auto offset = static_cast<std::size_t>(std::max<ssize_t>(sent, 0));
  asio::async_write(worker.socket, asio::buffer(worker.outgoing) + offset,
                    [self = worker.shared_from_this()](boost::system::error_code, std::size_t) {});
}

void ProcessExecutor::on_result(Worker& worker, proto::Result result) {
  const Worker::Job job = std::move(*worker.job);
  worker.job.reset();
  running_.erase(job.seq);
  make_idle(worker);  // the next job first: the worker works while the loop answers this one
  sink_.on_finished(job.seq, std::move(result.outcome));
}

void ProcessExecutor::remove_idle(Worker& worker) { std::erase(idle_, &worker); }

void ProcessExecutor::stop(JobSeq seq, StopReason reason) {
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->seq != seq) continue;
    queue_.erase(it);
    sink_.on_finished(seq, stopped_outcome(reason));
    return;
  }
  auto running = running_.find(seq);
  if (running == running_.end()) return;
  Worker& worker = *running->second;
  running_.erase(running);
  worker.job.reset();
  ++kills_;
  // A worker cannot be asked to stop a kind that does not look; it is killed with its group
  // and replaced at once, and the job ends now rather than when the kernel has reaped it.
  kill(worker);
  sink_.on_finished(seq, stopped_outcome(reason));
}

ExecutorStats ProcessExecutor::stats() const {
  return {queue_.size(),
          running_.size(),
          options_.queue_depth + options_.workers,
          counted_workers(),
          {{"crash", crashes_}, {"kill", kills_}, {"recycle", recycles_}}};
}

std::vector<pid_t> ProcessExecutor::worker_pids() const {
  std::vector<pid_t> pids;
  for (const auto& [pid, worker] : workers_) {
    if (worker->counted) pids.push_back(pid);
  }
  return pids;
}

// ---- shutdown (the loop has stopped: blocking, bounded) -------------------------------------

void ProcessExecutor::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  backoff_.cancel();
  // Normally the drain stopped everything already.
  while (!queue_.empty()) {
    const JobSeq seq = queue_.front().seq;
    queue_.pop_front();
    sink_.on_finished(seq, stopped_outcome(StopReason::shutdown));
  }
  std::vector<std::pair<pid_t, int>> children;  // pid, pidfd
  for (auto& [pid, worker] : workers_) {
    if (worker->job) {
      const JobSeq seq = worker->job->seq;
      worker->job.reset();
      kill_group(pid, worker->pidfd.native_handle());
      sink_.on_finished(seq, stopped_outcome(StopReason::shutdown));
    } else {
      ::shutdown(worker->socket.native_handle(), SHUT_RDWR);  // exits on EOF
    }
    children.emplace_back(pid, worker->pidfd.native_handle());
  }
  running_.clear();
  idle_.clear();
  const auto deadline = Clock::now() + kExitGrace;

  // The fork server may be forking a worker right now: half-close the control socket (it exits
  // at EOF) and collect every answer still coming, so that no worker it made goes unreaped.
  const int control = control_.release();
  ::shutdown(control, SHUT_WR);
  std::vector<int> late_pidfds;
  for (;;) {
    SpawnAnswer answer = fork_server_.receive();
    if (std::holds_alternative<ServerGone>(answer)) break;
    if (std::holds_alternative<NothingYet>(answer)) {
      pollfd readable{control, POLLIN, 0};
      if (::poll(&readable, 1, remaining_ms(deadline)) <= 0) break;
      continue;
    }
    if (auto* spawned = std::get_if<SpawnedWorker>(&answer)) {
      ::close(spawned->socket);  // EOF before its first read: it exits
      ::close(spawned->output);
      children.emplace_back(spawned->pid, spawned->pidfd);
      late_pidfds.push_back(spawned->pidfd);
    }
  }
  fork_server_.stop();

  for (const auto& [pid, pidfd] : children) {
    pollfd exited{pidfd, POLLIN, 0};
    if (::poll(&exited, 1, remaining_ms(deadline)) <= 0) {
      spdlog::warn("worker {} did not exit in time; killing it", pid);
    }
    // Also ends anything left in its group; the group cannot be reused before the reap below.
    kill_group(pid, pidfd);
    siginfo_t info{};
    while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) != 0 &&
           errno == EINTR) {
    }
  }
  for (int pidfd : late_pidfds) ::close(pidfd);
  for (auto& [pid, worker] : workers_) worker->state = Worker::State::exited;
  // The workers' descriptors close with them; the coroutines still suspended on them are
  // destroyed with the io_context without running again.
  workers_.clear();
}

}  // namespace jobd::exec
