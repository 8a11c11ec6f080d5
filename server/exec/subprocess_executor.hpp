// `subprocess` executor: runs the operator's allowlisted programs (exec/command_config.hpp)
// as jobs, one child process group per job (the subprocess model of DESIGN §1).
//
// Owns: the children it spawned (and only those), their pipes, their temp working
// directories, the queue of jobs waiting for a free slot (--max-subprocesses), and the kill
// sequence (SIGTERM to the group, SIGKILL after --kill-grace).
//
// Never blocks the loop. Starting a child (vfork + exec, which waits for the child's exec,
// ~100 us), mkdtemp and removing a finished job's directory tree run on spawner threads;
// the loop only reads and writes pipes (asio stream descriptors) and waits on pidfds.
//
// Children start with vfork + exec rather than posix_spawn, because their resource limits
// must hold from the program's first instruction: posix_spawn cannot set them, and prlimit(2)
// right after it is a race that the child wins on a busy machine (see spawn_child in the .cpp).
// Each child gets: its own process group, default signal dispositions and an empty mask, fds
// 0-2 only (stdin a pipe or /dev/null), the command's environment only, its working directory,
// its rlimits (RLIMIT_CORE 0 unless configured), and PR_SET_PDEATHSIG=SIGKILL so that it does
// not outlive a jobd that is killed without a chance to stop it.
//
// Reaps only its own children: each child is watched through a pidfd (readable when it
// exits) and reaped with waitid(P_PIDFD). It never calls waitpid(-1) and installs no SIGCHLD
// handler, so the process-pool executor can reap its workers the same way beside it.
//
// One job's life:
//   queued -> spawn (spawner thread) -> running: stdin written, stdout/stderr read, each up to
//   its cap (beyond it: read and discarded, `truncated`, so the child never blocks on a full
//   pipe) -> the leader exits -> SIGKILL to what is left of its group (a job's processes do not
//   outlive it) -> reaped -> the pipes are read to EOF (bounded by the kill grace, against a
//   grandchild that left the group and keeps them open) -> finished.
// Deadline or DELETE: SIGTERM to the group, SIGKILL after the grace; the job finishes as
// timed_out or cancelled when the leader is gone, keeping the output captured so far.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "exec/executor.hpp"

namespace jobd::exec {

struct SubprocessOptions {
  std::size_t max_running = 8;                 // --max-subprocesses: children alive at once
  std::size_t queue_depth = 1024;              // --queue-depth: jobs waiting beyond them; full = 429
  std::chrono::milliseconds kill_grace{2000};  // --kill-grace: SIGTERM -> SIGKILL
};

// Spawner threads. Several, because each one waits in vfork until its child has exec'd (the
// child needs a CPU for that), and mkdir/rmdir can wait on the file system's journal: with one
// thread, one slow spawn stalls all others (measured: p99 of `true` jobs 1.1 s with one thread
// on a loaded 2-core machine, 0.3 s with four, throughput 2-6x).
inline constexpr std::size_t kSpawnerThreads = 4;

// What running children write goes to the job sink line by line (JobSink::on_output), for
// the captured part of a stream only (up to its cap), each line valid UTF-8 (other bytes
// become U+FFFD) and cut at this many bytes: a longer line is published in pieces.
inline constexpr std::size_t kMaxOutputLineBytes = 4096;

class SubprocessExecutor final : public Executor {
 public:
  SubprocessExecutor(boost::asio::any_io_executor loop, JobSink& sink, SubprocessOptions options);
  ~SubprocessExecutor() override;

  proto::Executor id() const override { return proto::Executor::subprocess; }
  bool has_room() const override;
  void submit(JobTicket ticket) override;
  void stop(JobSeq seq, StopReason reason) override;
  ExecutorStats stats() const override;
  // After the loop stopped: SIGKILLs and reaps what is still alive, removes temp dirs.
  void shutdown() override;

 private:
  struct Child;

  void start(JobTicket ticket);
  boost::asio::awaitable<void> supervise(Child& child);
  boost::asio::awaitable<void> read_output(Child& child, bool is_stdout);
  boost::asio::awaitable<void> write_input(Child& child);
  void io_finished(Child& child);
  void terminate(Child& child);
  void complete(JobSeq seq, std::exception_ptr error);
  void start_queued();
  void publish_lines(Child& child, bool is_stdout, std::string_view bytes, bool at_eof);

  boost::asio::any_io_executor loop_;
  JobSink& sink_;
  SubprocessOptions options_;
  std::deque<JobTicket> queued_;
  std::unordered_map<JobSeq, std::unique_ptr<Child>> running_;  // spawning, running or draining
  bool shut_down_ = false;
  // Last: joined first on destruction, before the children it reports to go away.
  boost::asio::thread_pool spawner_{kSpawnerThreads};
};

}  // namespace jobd::exec
