#include "exec/process/process_executor.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "exec/posix/child_process.hpp"
#include "exec/posix/watched.hpp"

namespace jobd::exec {

namespace asio = boost::asio;
using Clock = WorkerSlots::Clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// Bytes read from a worker's socket or output pipe at once.
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;
// A worker's output line longer than this is logged in pieces, so a worker that prints
// without newlines cannot grow jobd's memory.
constexpr std::size_t kMaxLogLine = 4096;
// At shutdown: how long idle workers get to exit after EOF, and the fork server to answer
// what it was doing, before SIGKILL.
constexpr auto kExitGrace = std::chrono::milliseconds(1000);

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

spdlog::level::level_enum spdlog_level(WorkerSlots::LogLevel level) {
  switch (level) {
    case WorkerSlots::LogLevel::debug: return spdlog::level::debug;
    case WorkerSlots::LogLevel::info: return spdlog::level::info;
    case WorkerSlots::LogLevel::warn: return spdlog::level::warn;
    case WorkerSlots::LogLevel::error: return spdlog::level::err;
    case WorkerSlots::LogLevel::critical: return spdlog::level::critical;
  }
  return spdlog::level::info;
}

}  // namespace

// A worker's descriptors and bytes in flight; its state is the machine's.
struct ProcessExecutor::Worker : std::enable_shared_from_this<Worker> {
  Worker(const asio::any_io_executor& loop, WorkerId worker, const SpawnedWorker& spawned)
      : id(worker),
        pid(spawned.pid),
        socket(loop, spawned.socket),
        output(loop, spawned.output),
        pidfd(loop, spawned.pidfd) {}

  WorkerId id;
  pid_t pid;
  posix::WatchedFd socket;
  posix::WatchedFd output;
  posix::WatchedFd pidfd;
  proto::FrameDecoder decoder;
  std::string pending;   // RUN frames of this turn, written together when it ends
  std::string outgoing;  // the frames being written
  bool writing = false;  // Asio writes the rest of `outgoing` (the socket was full)
};

ProcessExecutor::ProcessExecutor(asio::any_io_executor loop, JobSink& sink, ForkServer& fork_server,
                                 ProcessPoolOptions options)
    : loop_(std::move(loop)),
      sink_(sink),
      fork_server_(fork_server),
      slots_(options, fork_server.options().limits.cpu_seconds),
      control_(loop_, fork_server.control_fd()),
      backoff_(loop_) {
  asio::co_spawn(loop_, receive_spawns(),
                 [](const std::exception_ptr& e) { log_escaped(e, "spawn receiver"); });
  apply(slots_.start(Clock::now()));
}

ProcessExecutor::~ProcessExecutor() { shutdown(); }

void ProcessExecutor::submit(JobTicket ticket) { apply(slots_.submit(std::move(ticket), Clock::now())); }

void ProcessExecutor::stop(JobSeq seq, StopReason reason) { apply(slots_.stop(seq, reason, Clock::now())); }

ProcessExecutor::Worker* ProcessExecutor::find(WorkerId id) {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : it->second.get();
}

void ProcessExecutor::apply(WorkerSlots::Actions actions) {
  for (auto& action : actions) {
    if (auto* spawn = std::get_if<WorkerSlots::RequestSpawn>(&action)) {
      request_spawn(spawn->token);
    } else if (auto* run = std::get_if<WorkerSlots::SendRun>(&action)) {
      if (Worker* worker = find(run->worker)) {
        worker->pending += proto::encode(run->run);
        flush_at_turn_end();
      }
    } else if (auto* started = std::get_if<WorkerSlots::ReportStarted>(&action)) {
      sink_.on_started(started->seq, {{"worker_pid", started->worker_pid}});
    } else if (auto* progress = std::get_if<WorkerSlots::ReportProgress>(&action)) {
      sink_.on_progress(progress->seq, progress->fraction, std::move(progress->text));
    } else if (auto* finish = std::get_if<WorkerSlots::FinishJob>(&action)) {
      sink_.on_finished(finish->seq, std::move(finish->outcome));
    } else if (auto* kill = std::get_if<WorkerSlots::KillGroup>(&action)) {
      if (Worker* worker = find(kill->worker)) {
        worker->pending.clear();  // frames of jobs it will not run (they went back to the queue)
        posix::kill_group(worker->pid, worker->pidfd.native_handle());
      }
    } else if (auto* close = std::get_if<WorkerSlots::CloseSocket>(&action)) {
      if (Worker* worker = find(close->worker)) ::shutdown(worker->socket.native_handle(), SHUT_RDWR);
    } else if (auto* backoff = std::get_if<WorkerSlots::StartBackoff>(&action)) {
      backoff_.expires_after(backoff->delay);
      backoff_.async_wait([this](boost::system::error_code error) {
        if (!error) apply(slots_.backoff_elapsed(Clock::now()));
      });
    } else if (auto* log = std::get_if<WorkerSlots::Log>(&action)) {
      spdlog::log(spdlog_level(log->level), "{}", log->text);
    }
  }
}

// ---- the fork server -----------------------------------------------------------------------

void ProcessExecutor::request_spawn(std::uint64_t token) {
  if (unsent_tokens_.empty() && fork_server_.request(token)) return;
  // The control socket is full (the server is slow or gone): send when it can take more.
  unsent_tokens_.push_back(token);
  if (unsent_tokens_.size() == 1) flush_spawn_requests();
}

void ProcessExecutor::flush_spawn_requests() {
  control_.async_wait(asio::posix::stream_descriptor::wait_write, [this](boost::system::error_code error) {
    if (error || slots_.shut_down() || !slots_.fork_server_alive()) return;
    while (!unsent_tokens_.empty() && fork_server_.request(unsent_tokens_.front()))
      unsent_tokens_.pop_front();
    if (!unsent_tokens_.empty()) flush_spawn_requests();
  });
}

asio::awaitable<void> ProcessExecutor::receive_spawns() {
  for (;;) {
    auto [error] = co_await control_.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    if (error || slots_.shut_down()) co_return;
    for (;;) {
      SpawnAnswer answer = fork_server_.receive();
      if (std::holds_alternative<NothingYet>(answer)) break;
      if (std::holds_alternative<ServerGone>(answer)) {
        apply(slots_.fork_server_gone());
        co_return;
      }
      if (auto* failed = std::get_if<SpawnFailed>(&answer)) {
        apply(slots_.spawn_failed(failed->token, failed->error, Clock::now()));
        continue;
      }
      adopt(std::get<SpawnedWorker>(answer));
    }
  }
}

void ProcessExecutor::adopt(const SpawnedWorker& spawned) {
  const WorkerId id = slots_.spawned(spawned.token, spawned.pid, Clock::now());
  auto worker = std::make_shared<Worker>(loop_, id, spawned);
  workers_.emplace(id, worker);
  // Three waits per worker; each holds the worker, which goes when the last one ends.
  asio::co_spawn(loop_, reap(worker), [](const std::exception_ptr& e) { log_escaped(e, "reaper"); });
  asio::co_spawn(loop_, read_frames(worker),
                 [](const std::exception_ptr& e) { log_escaped(e, "frame reader"); });
  asio::co_spawn(loop_, read_output(worker),
                 [](const std::exception_ptr& e) { log_escaped(e, "output reader"); });
}

// ---- a worker's descriptors ----------------------------------------------------------------

asio::awaitable<void> ProcessExecutor::read_frames(WorkerPtr worker) {
  std::vector<char> buffer(kReadChunk);
  for (;;) {
    auto [error, n] = co_await worker->socket.async_read_some(asio::buffer(buffer), use_tuple);
    // EOF or an error: the worker is gone or going; reap() reports it with its exit status.
    if (error || slots_.shut_down()) co_return;
    decode_frames(*worker, buffer.data(), n);
  }
}

void ProcessExecutor::decode_frames(Worker& worker, const char* bytes, std::size_t size) {
  if (!slots_.listening_to(worker.id)) return;  // dying: drained, dropped
  worker.decoder.feed(bytes, size);
  while (slots_.listening_to(worker.id)) {
    proto::DecodeResult next = worker.decoder.next();
    if (std::holds_alternative<proto::NeedMoreBytes>(next)) break;
    if (const auto* failure = std::get_if<proto::DecodeError>(&next)) {
      std::string why =
          std::string(proto::to_string(*failure)) + " (" + std::string(worker.decoder.error_detail()) + ")";
      apply(slots_.broken_frame(worker.id, std::move(why), Clock::now()));
      break;
    }
    apply(slots_.message(worker.id, std::move(std::get<proto::Message>(next)), Clock::now()));
  }
}

// The frames a worker wrote before it exited, read before its exit is reported: with jobs sent
// ahead, a worker may finish one job, write its result and die in the next; that result must
// reach the pool first, or the finished job would be blamed for the crash.
void ProcessExecutor::drain_frames(Worker& worker) {
  std::vector<char> buffer(kReadChunk);
  for (;;) {
    const ssize_t n = ::recv(worker.socket.native_handle(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    decode_frames(worker, buffer.data(), static_cast<std::size_t>(n));
  }
}

asio::awaitable<void> ProcessExecutor::read_output(WorkerPtr worker) {
  std::vector<char> buffer(kReadChunk);
  std::string line;
  for (;;) {
    auto [error, n] = co_await worker->output.async_read_some(asio::buffer(buffer), use_tuple);
    if (error) {  // EOF once the worker and everything in its group are gone
      if (!line.empty() && !slots_.shut_down()) spdlog::info("worker {}: {}", worker->pid, line);
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
  const posix::ExitWait end = co_await posix::wait_for_exit(worker->pidfd);
  // At shutdown, shutdown() reaps what is left.
  if (slots_.shut_down() || end.result == posix::ExitWait::Result::aborted) co_return;
  // Not expected (a worker is jobd's child, reaped here only): its job is reported crashed.
  posix::ExitStatus status{CLD_KILLED, 0};
  if (end.result == posix::ExitWait::Result::lost) {
    spdlog::error("process pool: cannot wait for worker {}: {}", worker->pid, end.why);
  } else if (auto reaped = posix::reap_exited(worker->pid, worker->pidfd.native_handle())) {
    status = reaped->exit;
  } else {
    spdlog::error("process pool: waitid on worker {}: {}", worker->pid, std::strerror(errno));
  }
  drain_frames(*worker);
  workers_.erase(worker->id);  // the coroutines still reading hold it until they end
  apply(slots_.exited(worker->id, status, Clock::now()));
}

// RUN frames wait for the end of the loop's turn, so that the jobs a turn hands one worker go in
// one write: a worker woken by a write takes the CPU from the loop at once on a shared core, so a
// write per job cost a switch to the worker and back per job (bench/RESULTS.md, stop 28).
void ProcessExecutor::flush_at_turn_end() {
  if (std::exchange(flush_armed_, true)) return;
  asio::post(loop_, [flush = flush_]() {
    if (flush->owner == nullptr) return;  // shut down meanwhile
    ProcessExecutor& self = *flush->owner;
    self.flush_armed_ = false;
    for (const auto& [id, worker] : self.workers_) send_pending(*worker);
  });
}

void ProcessExecutor::send_pending(Worker& worker) {
  if (worker.writing || worker.pending.empty()) return;
  worker.outgoing.swap(worker.pending);
  worker.pending.clear();
  // A worker's socket buffer is nearly always empty, so the frames fit at once: written now,
  // without a completion handler to allocate and dispatch (this is on every job's path).
  const ssize_t sent = ::send(worker.socket.native_handle(), worker.outgoing.data(), worker.outgoing.size(),
                              MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent == static_cast<ssize_t>(worker.outgoing.size())) return;
  // A worker that died fails the write; reap() reports the death, so errors are not handled
  // here. Only a full buffer (large params) leaves a remainder for Asio to write when it can;
  // what the loop adds meanwhile follows it.
  if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return;
  const auto offset = static_cast<std::size_t>(std::max<ssize_t>(sent, 0));
  worker.writing = true;
  asio::async_write(worker.socket, asio::buffer(worker.outgoing) + offset,
                    [self = worker.shared_from_this()](boost::system::error_code error, std::size_t) {
                      self->writing = false;
                      if (!error) send_pending(*self);
                    });
}

// ---- shutdown (the loop has stopped: blocking, bounded) -------------------------------------

void ProcessExecutor::shutdown() {
  flush_->owner = nullptr;
  if (slots_.shut_down()) return;
  backoff_.cancel();
  // Every job finishes; busy workers are killed, the others get EOF and exit.
  apply(slots_.shutdown());
  std::vector<std::pair<pid_t, int>> children;  // pid, pidfd
  for (const auto& [id, worker] : workers_) children.emplace_back(worker->pid, worker->pidfd.native_handle());
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
    // Also ends anything left in its group; the group cannot be reused before the reap.
    posix::kill_and_reap(pid, pidfd);
  }
  for (int pidfd : late_pidfds) ::close(pidfd);
  // The workers' descriptors close with them; the coroutines still suspended on them are
  // destroyed with the io_context without running again.
  workers_.clear();
}

}  // namespace jobd::exec
