// `subprocess` executor: runs the operator's allowlisted programs
// (exec/subprocess/command_config.hpp) as jobs, one child process group per job (the
// subprocess model of DESIGN §1).
//
// Owns: the children it spawned (and only those), their pipes, their temp working
// directories, the queue of jobs waiting for a free slot (--max-subprocesses), and the kill
// sequence (SIGTERM to the group, SIGKILL after --kill-grace).
//
// Never blocks the loop. Starting a child (vfork + exec, which waits for the child's exec,
// ~100 us; exec/subprocess/launcher.hpp), mkdtemp and removing a finished job's directory tree
// run on spawner threads; the loop only reads and writes pipes and waits on pidfds.
//
// Reaps only its own children: each child is watched through a pidfd and reaped with
// waitid(P_PIDFD), believed and closed as exec/posix/watched.hpp says. It never calls
// waitpid(-1) and installs no SIGCHLD handler, so the process pool reaps its workers beside it.
//
// One job's life:
//   queued -> spawn (spawner thread) -> running: stdin written, stdout/stderr read and captured
//   (exec/subprocess/output_capture.hpp: up to a cap, line events) -> the leader exits ->
//   SIGKILL to what is left of its group (a job's processes do not outlive it) -> reaped ->
//   the pipes are read to EOF (bounded by the kill grace, against a grandchild that left the
//   group and keeps them open) -> finished.
// Deadline or DELETE: SIGTERM to the group, SIGKILL after the grace; the job finishes as
// timed_out or cancelled when the leader is gone, keeping the output captured so far
// (exec/subprocess/job_outcome.hpp decides what the end means).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <unordered_map>

#include "exec/executor.hpp"
#include "exec/subprocess/launcher.hpp"

namespace jobd::exec {

struct SubprocessOptions {
  std::size_t max_running = 8;                 // --max-subprocesses: children alive at once
  std::size_t queue_depth = 1024;              // --queue-depth: jobs waiting beyond them; full = 429
  std::chrono::milliseconds kill_grace{2000};  // --kill-grace: SIGTERM -> SIGKILL
};

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
  void run(Child& child, Launched& launched);
  boost::asio::awaitable<void> reap_when_exited(Child& child);
  boost::asio::awaitable<void> drain(Child& child);
  boost::asio::awaitable<void> read_output(Child& child, OutputStream stream);
  boost::asio::awaitable<void> write_input(Child& child);
  void io_finished(Child& child);
  void terminate(Child& child);
  void complete(JobSeq seq, const std::exception_ptr& error);
  void start_queued();

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
