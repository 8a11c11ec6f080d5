// `process` executor: CPU-bound kinds in a supervised pool of worker processes (the
// multiprocessing model). A job runs isolated from jobd and from other jobs; a crash costs that
// one job; a job that overruns or is cancelled is ended by killing its worker, which no thread
// can offer.
//
// The thin Asio layer around WorkerSlots (exec/process/worker_slots.hpp), which decides all
// supervision: this class turns what happens on descriptors into the machine's events (a
// worker from the fork server, a decoded frame, a reaped worker, a back-off timer) and carries
// out its actions (requests to the fork server, RUN frames, group kills, socket shutdowns, the
// job sink's calls, log lines). It also logs what workers print, prefixed with their pid.
//
// It runs on the loop thread and must never block it: every socket, pipe and pidfd is waited
// on through Asio, every syscall here is non-blocking, and pidfds are believed only as
// exec/posix/watched.hpp says. The one exception is shutdown(), which runs after the loop has
// stopped and waits (bounded) for the workers to exit.
#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "exec/executor.hpp"
#include "exec/process/fork_server.hpp"
#include "exec/process/worker_slots.hpp"

namespace jobd::exec {

class ProcessExecutor final : public Executor {
 public:
  ProcessExecutor(boost::asio::any_io_executor loop, JobSink& sink, ForkServer& fork_server,
                  ProcessPoolOptions options);
  ~ProcessExecutor() override;

  proto::Executor id() const override { return proto::Executor::process; }
  bool has_room() const override { return slots_.has_room(); }
  void submit(JobTicket ticket) override;
  void stop(JobSeq seq, StopReason reason) override;
  ExecutorStats stats() const override { return slots_.stats(); }
  bool ready() const override { return slots_.ready(); }
  void shutdown() override;

  // PIDs of the workers that count toward M (ready, busy or starting), for logs and tests.
  std::vector<pid_t> worker_pids() const { return slots_.worker_pids(); }

 private:
  struct Worker;
  using WorkerPtr = std::shared_ptr<Worker>;

  // Carries out the machine's actions, in order. Re-entrant: a finished job's sink may submit
  // the next job, whose actions run before the rest of these.
  void apply(WorkerSlots::Actions actions);
  Worker* find(WorkerId id);
  void request_spawn(std::uint64_t token);
  void flush_spawn_requests();
  void flush_at_turn_end();
  static void send_pending(Worker& worker);
  void decode_frames(Worker& worker, const char* bytes, std::size_t size);
  void drain_frames(Worker& worker);
  boost::asio::awaitable<void> receive_spawns();
  void adopt(const SpawnedWorker& spawned);
  boost::asio::awaitable<void> read_frames(WorkerPtr worker);
  boost::asio::awaitable<void> read_output(WorkerPtr worker);
  boost::asio::awaitable<void> reap(WorkerPtr worker);

  boost::asio::any_io_executor loop_;
  JobSink& sink_;
  ForkServer& fork_server_;
  WorkerSlots slots_;
  // The fork server's control socket: the server owns it, so it is released (deregistered)
  // at shutdown, never closed here.
  boost::asio::posix::stream_descriptor control_;
  boost::asio::steady_timer backoff_;        // delays spawns while workers die at start
  std::map<WorkerId, WorkerPtr> workers_;    // alive or not yet reaped
  std::deque<std::uint64_t> unsent_tokens_;  // spawn requests the control socket could not take yet
  // The turn's flush holds this, not the executor: one still queued after shutdown finds no owner.
  struct Flush {
    ProcessExecutor* owner;
  };
  std::shared_ptr<Flush> flush_ = std::make_shared<Flush>(Flush{this});
  bool flush_armed_ = false;
};

}  // namespace jobd::exec
