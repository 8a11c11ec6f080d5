#include "exec/subprocess/subprocess_executor.hpp"

#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "exec/posix/child_process.hpp"
#include "exec/posix/watched.hpp"
#include "exec/subprocess/command_line.hpp"
#include "exec/subprocess/job_outcome.hpp"
#include "exec/subprocess/output_capture.hpp"
#include "kinds/kind.hpp"

namespace jobd::exec {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// One read from a child's pipe (a pipe holds 64 KiB by default; 16 KiB reads keep the
// coroutine frame small while 200 jobs run, and are few enough for 50 MB of discarded output).
constexpr std::size_t kReadChunk = std::size_t{16} * 1024;

}  // namespace

struct SubprocessExecutor::Child {
  Child(const asio::any_io_executor& loop, JobTicket job)
      : ticket(std::move(job)),
        pidfd(loop),
        stdin_pipe(loop),
        stdout_pipe(loop),
        stderr_pipe(loop),
        grace(loop),
        run_limit(loop),
        io_done(loop),
        out(ticket.kind->command->max_stdout_bytes),
        err(ticket.kind->command->max_stderr_bytes) {}
  ~Child() {
    // Only on paths where jobd stops with the child alive (shutdown, an escaped exception):
    // a normal end reaps first. Blocking is fine there; the group is SIGKILLed.
    if (pid > 0 && !reaped && pidfd.is_open()) posix::kill_and_reap(pid, pidfd.native_handle());
    if (!temp_dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(temp_dir, ignored);
    }
  }

  JobTicket ticket;
  std::string input;
  pid_t pid = -1;
  posix::WatchedFd pidfd;  // readable once the child exited
  posix::WatchedFd stdin_pipe, stdout_pipe, stderr_pipe;
  asio::steady_timer grace;      // SIGKILL when it runs out after SIGTERM
  asio::steady_timer run_limit;  // the command's timeout_ms
  asio::steady_timer io_done;    // cancelled when the last pipe coroutine ends (an event)
  int pending_io = 0;            // pipe coroutines still running
  OutputCapture out, err;
  std::string temp_dir;
  std::string spawn_error;
  std::optional<StopReason> stop_reason;
  bool run_limit_hit = false;
  bool reaped = false;                 // reaped, or lost: no longer ours to signal
  std::optional<posix::Reaped> ended;  // how it ended; empty when lost track of
  Clock::time_point spawned_at;
  Clock::time_point exited_at;
};

SubprocessExecutor::SubprocessExecutor(asio::any_io_executor loop, JobSink& sink, SubprocessOptions options)
    : loop_(std::move(loop)), sink_(sink), options_(options) {}

SubprocessExecutor::~SubprocessExecutor() { shutdown(); }

bool SubprocessExecutor::has_room() const {
  return !shut_down_ && (running_.size() < options_.max_running || queued_.size() < options_.queue_depth);
}

ExecutorStats SubprocessExecutor::stats() const {
  return {queued_.size(), running_.size(), options_.max_running + options_.queue_depth, options_.max_running};
}

void SubprocessExecutor::submit(JobTicket ticket) {
  if (shut_down_) {
    sink_.on_finished(ticket.seq, stopped_outcome(StopReason::shutdown));
    return;
  }
  if (running_.size() < options_.max_running) {
    start(std::move(ticket));
  } else {
    queued_.push_back(std::move(ticket));
  }
}

void SubprocessExecutor::start_queued() {
  while (!shut_down_ && running_.size() < options_.max_running && !queued_.empty()) {
    JobTicket next = std::move(queued_.front());
    queued_.pop_front();
    start(std::move(next));
  }
}

void SubprocessExecutor::start(JobTicket ticket) {
  const JobSeq seq = ticket.seq;
  auto [it, inserted] = running_.emplace(seq, std::make_unique<Child>(loop_, std::move(ticket)));
  Child& child = *it->second;
  asio::co_spawn(loop_, supervise(child),
                 [this, seq](const std::exception_ptr& error) { complete(seq, error); });
}

// ---- one job, top to bottom: spawn, run, wait for the exit, drain the pipes ----------------

asio::awaitable<void> SubprocessExecutor::supervise(Child& child) {
  const CommandSpec& command = *child.ticket.kind->command;
  LaunchRequest request{&command, build_argv(command, child.ticket.params), command.stdin_input};
  child.input = build_stdin(command, child.ticket.params);
  // vfork waits for the child's exec: off the loop, on a spawner thread.
  Launched launched = co_await asio::co_spawn(
      spawner_, [&request]() -> asio::awaitable<Launched> { co_return launch(request); },
      asio::use_awaitable);
  child.temp_dir = std::exchange(launched.temp_dir, {});
  if (!launched.error.empty()) {
    child.spawn_error = std::move(launched.error);
    co_return;
  }
  run(child, launched);
  co_await reap_when_exited(child);
  co_await drain(child);
}

void SubprocessExecutor::run(Child& child, Launched& launched) {
  child.pid = std::exchange(launched.pid, -1);
  child.spawned_at = Clock::now();
  child.pidfd.assign(launched.pidfd.release());
  child.stdout_pipe.assign(launched.stdout_r.release());
  child.stderr_pipe.assign(launched.stderr_r.release());
  if (launched.stdin_w.valid()) child.stdin_pipe.assign(launched.stdin_w.release());
  sink_.on_started(child.ticket.seq, {{"pid", child.pid}});
  if (child.stop_reason) terminate(child);  // stopped while it was being spawned
  const CommandSpec& command = *child.ticket.kind->command;
  if (command.timeout.count() > 0) {
    child.run_limit.expires_after(command.timeout);
    child.run_limit.async_wait([this, seq = child.ticket.seq](boost::system::error_code error) {
      if (error) return;
      auto it = running_.find(seq);
      if (it == running_.end() || it->second->stop_reason || it->second->reaped) return;
      it->second->run_limit_hit = true;
      it->second->stop_reason = StopReason::timed_out;
      terminate(*it->second);
    });
  }
  // The pipes are served by their own coroutines, so that output keeps flowing (and the child
  // never blocks on a full pipe) while supervise() waits for the exit.
  child.io_done.expires_at(asio::steady_timer::time_point::max());
  const auto count_done = [this, &child](const std::exception_ptr&) { io_finished(child); };
  child.pending_io = child.stdin_pipe.is_open() ? 3 : 2;
  asio::co_spawn(loop_, read_output(child, OutputStream::stdout_stream), count_done);
  asio::co_spawn(loop_, read_output(child, OutputStream::stderr_stream), count_done);
  if (child.stdin_pipe.is_open()) asio::co_spawn(loop_, write_input(child), count_done);
}

asio::awaitable<void> SubprocessExecutor::reap_when_exited(Child& child) {
  const posix::ExitWait end = co_await posix::wait_for_exit(child.pidfd);
  child.exited_at = Clock::now();
  if (end.result == posix::ExitWait::Result::exited) {
    // Also SIGKILLs what the job left in its group (background grandchildren), and nothing
    // else: the zombie leader still reserves the group id.
    child.ended = posix::reap_exited(child.pid, child.pidfd.native_handle());
    if (!child.ended) spdlog::error("subprocess {}: waitid: {}", child.pid, std::strerror(errno));
    child.reaped = true;
  } else if (end.result == posix::ExitWait::Result::aborted) {
    spdlog::error("subprocess {}: cannot wait for it: {}", child.pid, end.why);
    posix::signal_group(child.pid, SIGKILL);  // not reaped, so the group is still ours; ~Child reaps it
  } else {
    // Reaped by someone else against the rules: not ours any more. Never a blocking wait on
    // the loop; never a signal to a group we may no longer own. The job fails as "lost track".
    spdlog::error("subprocess {}: cannot wait for it: {}", child.pid, end.why);
    child.reaped = true;
  }
  child.grace.cancel();
  child.run_limit.cancel();
}

asio::awaitable<void> SubprocessExecutor::drain(Child& child) {
  // The rest of the output is still in the pipes: read it to EOF. A grandchild that left the
  // group (setsid) may hold a pipe open for ever: after the grace, stop listening to it.
  child.io_done.expires_after(options_.kill_grace);
  while (child.pending_io > 0) {
    auto [error] = co_await child.io_done.async_wait(use_tuple);
    if (!error) {
      child.stdin_pipe.close();
      child.stdout_pipe.close();
      child.stderr_pipe.close();
      child.io_done.expires_at(asio::steady_timer::time_point::max());
    }
  }
}

void SubprocessExecutor::io_finished(Child& child) {
  if (--child.pending_io == 0) child.io_done.cancel();
}

asio::awaitable<void> SubprocessExecutor::read_output(Child& child, OutputStream stream) {
  const bool is_stdout = stream == OutputStream::stdout_stream;
  posix::WatchedFd& pipe = is_stdout ? child.stdout_pipe : child.stderr_pipe;
  OutputCapture& capture = is_stdout ? child.out : child.err;
  // Lines are published whether or not someone listens now: the job's event history lets a
  // watcher that comes later (jobctl watch after submit) replay them. The table bounds it.
  const OutputCapture::LineFn publish = [this, seq = child.ticket.seq, stream](std::string_view line) {
    sink_.on_output(seq, stream, line);
  };
  std::array<char, kReadChunk> chunk;
  for (;;) {
    auto [error, n] = co_await pipe.async_read_some(asio::buffer(chunk), use_tuple);
    if (n > 0) capture.append({chunk.data(), n}, publish);
    if (error) break;  // EOF, or closed by drain() after the grace
  }
  capture.finish(publish);
  pipe.close();
}

asio::awaitable<void> SubprocessExecutor::write_input(Child& child) {
  if (!child.input.empty()) {
    // A child that exits without reading it all makes this fail with EPIPE (SIGPIPE is ignored
    // in jobd): the job's outcome is its exit status, not this write.
    co_await asio::async_write(child.stdin_pipe, asio::buffer(child.input), use_tuple);
  }
  // EOF on the child's stdin.
  child.stdin_pipe.close();
  std::string().swap(child.input);
}

// ---- stopping ------------------------------------------------------------------------------

void SubprocessExecutor::terminate(Child& child) {
  if (child.pid <= 0 || child.reaped) return;  // not spawned yet: run() calls again
  posix::signal_group(child.pid, SIGTERM);
  child.grace.expires_after(options_.kill_grace);
  child.grace.async_wait([this, seq = child.ticket.seq](boost::system::error_code error) {
    if (error) return;
    auto it = running_.find(seq);
    // Not reaped yet: the leader's pid still names the group.
    if (it != running_.end() && !it->second->reaped) posix::signal_group(it->second->pid, SIGKILL);
  });
}

void SubprocessExecutor::stop(JobSeq seq, StopReason reason) {
  for (auto it = queued_.begin(); it != queued_.end(); ++it) {
    if (it->seq == seq) {
      queued_.erase(it);
      sink_.on_finished(seq, stopped_outcome(reason));
      return;
    }
  }
  auto it = running_.find(seq);
  // Once reaped, the job's outcome is its exit status: it finishes as soon as its pipes drained.
  if (it == running_.end() || it->second->stop_reason || it->second->reaped) return;
  // The job stays running until its process group is gone; complete() reports it then.
  it->second->stop_reason = reason;
  terminate(*it->second);
}

void SubprocessExecutor::complete(JobSeq seq, const std::exception_ptr& error) {
  auto node = running_.extract(seq);
  if (node.empty()) return;
  Child& child = *node.mapped();
  ChildEnd end;
  end.pid = child.pid;
  end.spawn_error = std::move(child.spawn_error);
  end.reaped = child.ended;
  end.run_time = std::chrono::duration_cast<std::chrono::milliseconds>(child.exited_at - child.spawned_at);
  end.stop_reason = child.stop_reason;
  if (child.run_limit_hit) end.run_limit = child.ticket.kind->command->timeout;
  end.error = error;
  Outcome outcome = job_outcome(end, child.out, child.err);
  if (error)
    spdlog::error("subprocess job {}: {}", child.ticket.job_id,
                  proto::outcome_from_exception(error).error_message);
  // The directory tree may be large: removed on a spawner thread, not here.
  if (!child.temp_dir.empty()) {
    asio::post(spawner_, [dir = std::exchange(child.temp_dir, {})] {
      // Most jobs leave their directory empty: one rmdir, not remove_all's walk.
      if (::rmdir(dir.c_str()) == 0) return;
      std::error_code failed;
      std::filesystem::remove_all(dir, failed);
      if (failed) spdlog::warn("cannot remove job directory {}: {}", dir, failed.message());
    });
  }
  // An escaped exception may leave the child running: the destructor below kills and reaps it,
  // blocking briefly, on a path that should never be taken.
  node.mapped().reset();
  sink_.on_finished(seq, std::move(outcome));
  start_queued();
}

void SubprocessExecutor::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // The loop has stopped: nothing will finish these jobs any more. SIGKILL every group first,
  // then reap (the Child destructors), so they die in parallel.
  for (auto& [seq, child] : running_) {
    if (child->pid > 0 && !child->reaped) posix::signal_group(child->pid, SIGKILL);
  }
  running_.clear();
  queued_.clear();
  // Finishes pending spawns (their results are destroyed with the loop's handlers, which kills
  // and reaps them) and the removal of finished jobs' directories.
  spawner_.join();
}

}  // namespace jobd::exec
