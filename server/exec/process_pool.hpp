// `process` executor: CPU-bound kinds in a supervised pool of worker processes (the
// multiprocessing model). A job runs isolated from jobd and from other jobs; a crash costs that
// one job; a job that overruns or is cancelled is ended by killing its worker, which no thread
// can offer.
//
// This module owns all supervision of the workers (DESIGN §1, STYLE habit 6): it asks the fork
// server for workers, talks to each over its socketpair, dispatches queued jobs to idle
// workers (one job per worker), reaps the dead through their pidfds, kills overrunning or
// cancelled jobs with their whole process group, replaces every worker that dies or is killed
// at once, and recycles a worker after --worker-max-jobs jobs without a gap in capacity (the
// replacement is asked for when the worker starts its last job). It also logs what workers
// print, prefixed with their pid.
//
// It runs on the loop thread and must never block it: every socket, pipe and pidfd is waited
// on through Asio, every syscall here is non-blocking. The one exception is shutdown(), which
// runs after the loop has stopped and waits (bounded) for the workers to exit.
#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "exec/executor.hpp"
#include "exec/fork_server.hpp"
#include "jobd/proto/frame.hpp"

namespace jobd::exec {

struct ProcessPoolOptions {
  std::size_t workers = 2;                // M: workers kept ready (--workers)
  std::size_t queue_depth = 1024;         // jobs waiting beyond the running ones; full = 429
  std::uint64_t max_jobs_per_worker = 0;  // K: recycle after K jobs; 0 = never (--worker-max-jobs)
};

// How a worker's death reads in a job's error message, from waitid()'s si_code and si_status:
// "worker killed by signal 11 (SIGSEGV)", "worker exited with status 3". Pure.
std::string describe_worker_exit(int code, int status, const WorkerLimits& limits);

class ProcessExecutor final : public Executor {
 public:
  ProcessExecutor(boost::asio::any_io_executor loop, JobSink& sink, ForkServer& fork_server,
                  ProcessPoolOptions options);
  ~ProcessExecutor() override;

  proto::Executor id() const override { return proto::Executor::process; }
  bool has_room() const override { return queue_.size() < options_.queue_depth; }
  void submit(JobTicket ticket) override;
  void stop(JobSeq seq, StopReason reason) override;
  ExecutorStats stats() const override;
  // True once the pool first had M workers ready, as long as the fork server lives.
  bool ready() const override { return pool_was_up_ && fork_server_alive_; }
  void shutdown() override;

  // PIDs of the workers that count toward M (ready, busy or starting), for logs and tests.
  std::vector<pid_t> worker_pids() const;

 private:
  struct Worker;
  using WorkerPtr = std::shared_ptr<Worker>;
  struct PendingSpawn {
    std::chrono::steady_clock::time_point requested;
    // When the worker this one replaces was found dead or was killed; empty for a planned spawn.
    std::optional<std::chrono::steady_clock::time_point> replaces_death;
  };

  // Supervision.
  void start();
  void top_up(std::optional<std::chrono::steady_clock::time_point> death = std::nullopt);
  void request_spawn(std::optional<std::chrono::steady_clock::time_point> death);
  void flush_spawn_requests();
  boost::asio::awaitable<void> receive_spawns();
  void adopt(SpawnedWorker spawned);
  boost::asio::awaitable<void> read_frames(WorkerPtr worker);
  boost::asio::awaitable<void> read_output(WorkerPtr worker);
  boost::asio::awaitable<void> reap(WorkerPtr worker);
  void on_exit(Worker& worker, int code, int status);
  void kill(Worker& worker);
  void retire(Worker& worker);
  void broken(Worker& worker, std::string why);
  void on_ready(Worker& worker);
  std::size_t counted_workers() const;

  // Dispatch.
  void make_idle(Worker& worker);
  void run_on(Worker& worker, JobTicket ticket);
  void send_run_frame(Worker& worker);
  void on_result(Worker& worker, proto::Result result);
  void remove_idle(Worker& worker);

  boost::asio::any_io_executor loop_;
  JobSink& sink_;
  ForkServer& fork_server_;
  ProcessPoolOptions options_;
  boost::asio::posix::stream_descriptor control_;  // the fork server's control socket
  boost::asio::steady_timer backoff_;              // delays spawns while workers die at start

  std::unordered_map<pid_t, WorkerPtr> workers_;                    // alive or not yet reaped
  std::vector<Worker*> idle_;                                       // ready, no job; last in runs next (warm)
  std::deque<JobTicket> queue_;                                     // accepted, waiting for an idle worker
  std::unordered_map<JobSeq, Worker*> running_;                     // job -> the worker running it
  std::unordered_map<std::uint64_t, PendingSpawn> pending_spawns_;  // asked, not yet answered
  std::deque<std::uint64_t> unsent_tokens_;  // spawn requests the control socket could not take yet
  std::uint64_t next_token_ = 0;
  unsigned startup_failures_ = 0;  // workers in a row that died before their hello
  // Workers replaced so far, by cause (ExecutorStats::restarts, /metrics).
  std::uint64_t crashes_ = 0;   // died on their own (signal, exit, broken frame)
  std::uint64_t kills_ = 0;     // killed by jobd: deadline, cancel
  std::uint64_t recycles_ = 0;  // retired after --worker-max-jobs
  bool backing_off_ = false;
  bool pool_was_up_ = false;
  bool fork_server_alive_ = true;
  bool shut_down_ = false;
};

}  // namespace jobd::exec
