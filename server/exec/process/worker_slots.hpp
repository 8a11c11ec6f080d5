// WorkerSlots: all supervision of the process pool (DESIGN §1, STYLE habit 6), as a state
// machine without I/O (STYLE habit 1, Boost.Redis's FSMs). ProcessExecutor feeds it events
// (a worker spawned, said hello, sent a result or a broken frame, exited; a job was submitted
// or stopped; the back-off ran out) and carries out the actions it returns, in order (ask the
// fork server for a worker, send RUN, kill a group, close a socket, finish a job, start the
// back-off timer, log). It never touches a descriptor, a process, a clock or Asio: events
// carry the time they happened at, so tests drive it without processes
// (tests/unit/worker_slots_test.cpp).
//
// What it decides:
// - a worker's life: starting (forked, no hello yet) -> idle <-> busy -> dying (killed,
//   broken or retiring: gets no job, its exit is expected) -> exited (reaped, forgotten);
// - M workers kept: every worker that counts toward M is replaced as soon as it stops
//   counting (dies, is killed, or starts its last job before recycling);
// - recycling after --worker-max-jobs K: the replacement is asked for when the worker starts
//   its K-th job, so capacity has no gap; the worker retires (its socket is closed) after it;
// - dispatch: jobs wait in a FIFO queue; the idle worker that went idle last runs the next job
//   (LIFO: it is warm in the caches). With a pipeline of P > 1, a busy worker is also sent up
//   to P - 1 jobs ahead while jobs wait: they queue in its socket and it runs them one after
//   the other without waiting for jobd in between. A job sent ahead counts as queued and is
//   started (ReportStarted) when the result before it comes in; stopped there, it finishes at
//   once and its worker is killed when it reaches it; when the worker dies or is killed, the
//   jobs ahead of it go back to the front of the queue;
// - why a worker was replaced: crash (died on its own or sent a broken frame), kill (deadline,
//   cancel), recycle;
// - start-up failures (a worker that dies before its hello or before its first job, a fork
//   that fails): replacements then go one at a time after a doubling delay (10 ms to 1 s), so
//   a crash loop cannot eat a core.
//
// Every job it accepts gets exactly one FinishJob action.
#pragma once

#include <sys/types.h>

#include <boost/container/small_vector.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "exec/executor.hpp"
#include "exec/posix/exit_text.hpp"
#include "jobd/proto/frame.hpp"

namespace jobd::exec {

struct ProcessPoolOptions {
  std::size_t workers = 2;                // M: workers kept ready (--workers)
  std::size_t queue_depth = 1024;         // jobs waiting beyond the running ones; full = 429
  std::uint64_t max_jobs_per_worker = 0;  // K: recycle after K jobs; 0 = never (--worker-max-jobs)
  std::size_t pipeline = 1;  // P: jobs a worker holds, running and sent ahead (--worker-pipeline)
};

// One spawned worker, for as long as it lives; never reused (a pid may be, once reaped).
using WorkerId = std::uint64_t;

class WorkerSlots {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  // Workers dying at start-up are replaced after kFirstBackoff, doubling up to kMaxBackoff.
  static constexpr auto kFirstBackoff = std::chrono::milliseconds(10);
  static constexpr auto kMaxBackoff = std::chrono::milliseconds(1000);

  // ---- actions, for the executor to carry out in order -------------------------------------
  // Ask the fork server for one worker; its answer comes back as spawned() or spawn_failed().
  struct RequestSpawn {
    std::uint64_t token = 0;
  };
  // Write this RUN frame to the worker's socket.
  struct SendRun {
    WorkerId worker = 0;
    proto::Run run;
  };
  // JobSink::on_started with the worker's pid in the job's details.
  struct ReportStarted {
    JobSeq seq = 0;
    pid_t worker_pid = 0;
  };
  struct ReportProgress {
    JobSeq seq = 0;
    double fraction = 0;
    std::string text;
  };
  struct FinishJob {
    JobSeq seq = 0;
    Outcome outcome;
  };
  // SIGKILL to the worker's process group and to the worker itself; its exit follows.
  struct KillGroup {
    WorkerId worker = 0;
  };
  // Shut the worker's socket down: at EOF it exits cleanly (retirement, shutdown).
  struct CloseSocket {
    WorkerId worker = 0;
  };
  // Call backoff_elapsed() after this long (unless shutdown comes first).
  struct StartBackoff {
    std::chrono::milliseconds delay{0};
  };
  enum class LogLevel { debug, info, warn, error, critical };
  struct Log {
    LogLevel level = LogLevel::info;
    std::string text;
  };
  using Action = std::variant<RequestSpawn, SendRun, ReportStarted, ReportProgress, FinishJob, KillGroup,
                              CloseSocket, StartBackoff, Log>;
  // Held inline up to kInlineActions (a result is answered with up to three actions: the next
  // RUN, its start, this job's end; a submission with two): no allocation per event on a
  // job's path. Rare events (shutdown, a crash with replacements) spill to the heap.
  static constexpr std::size_t kInlineActions = 4;
  using Actions = boost::container::small_vector<Action, kInlineActions>;

  // `cpu_seconds_per_job`: the workers' --worker-cpu, named when a worker dies of SIGXCPU.
  WorkerSlots(ProcessPoolOptions options, std::uint64_t cpu_seconds_per_job);

  // ---- events --------------------------------------------------------------------------------
  // The pool starts: asks for M workers.
  Actions start(TimePoint now);
  // The fork server answered `token` with a worker; it is starting until its hello.
  WorkerId spawned(std::uint64_t token, pid_t pid, TimePoint now);
  // The fork server could not fork for `token` (errno value).
  Actions spawn_failed(std::uint64_t token, int error, TimePoint now);
  // The fork server died: no worker can be replaced any more; the pool is not ready.
  Actions fork_server_gone();
  // A decoded frame from a worker: hello, progress, result (a RUN is a protocol error).
  Actions message(WorkerId worker, proto::Message message, TimePoint now);
  // A frame from the worker failed to decode: it is killed, its job fails with `why`.
  Actions broken_frame(WorkerId worker, std::string why, TimePoint now);
  // The worker was reaped (or lost: then pass CLD_KILLED, 0).
  Actions exited(WorkerId worker, posix::ExitStatus exit, TimePoint now);
  // A job for the pool; has_room() said yes just before.
  Actions submit(JobTicket ticket, TimePoint now);
  // Cancel, deadline or drain: a queued job leaves the queue, a running one's worker is killed;
  // either finishes now.
  Actions stop(JobSeq seq, StopReason reason, TimePoint now);
  // The back-off delay ran out.
  Actions backoff_elapsed(TimePoint now);
  // jobd stops: every job finishes (cancelled), busy workers are killed, the others told to exit.
  // Events after this one are ignored.
  Actions shutdown();

  // ---- state -------------------------------------------------------------------------------
  bool has_room() const { return queue_.size() + ahead_ < options_.queue_depth; }
  // True once the pool first had M workers ready, as long as the fork server lives.
  bool ready() const { return pool_was_up_ && fork_server_alive_; }
  bool shut_down() const { return shut_down_; }
  bool fork_server_alive() const { return fork_server_alive_; }
  // Whether frames from this worker still matter (starting, idle or busy): a dying worker's
  // output is drained and dropped.
  bool listening_to(WorkerId worker) const;
  ExecutorStats stats() const;
  // PIDs of the workers that count toward M (ready, busy or starting).
  std::vector<pid_t> worker_pids() const;

 private:
  enum class State { starting, idle, busy, dying };
  struct RunningJob {
    JobSeq seq = 0;
    std::string job_id;
    std::shared_ptr<JobControl> control;
  };
  struct AheadJob {
    JobTicket ticket;        // kept whole: a job sent ahead may go back to the queue
    bool withdrawn = false;  // stopped: finished already; its worker is killed when it reaches it
  };
  struct Slot {
    WorkerId id = 0;
    pid_t pid = 0;
    State state = State::starting;
    bool counted = true;  // one of the M workers; false once it is on its way out
    std::uint64_t jobs_started = 0;
    std::optional<RunningJob> job;      // the one it runs
    std::deque<AheadJob> ahead;         // sent after it, in order, not started
    std::optional<std::string> broken;  // why it was killed for a protocol error
    TimePoint requested;
    std::optional<TimePoint> replaces_death;  // when the worker it replaces was lost
  };
  struct PendingSpawn {
    TimePoint requested;
    std::optional<TimePoint> replaces_death;  // empty for a planned spawn
  };

  Slot* find(WorkerId worker);
  std::size_t counted_workers() const;
  void top_up(Actions& out, TimePoint now, std::optional<TimePoint> death);
  void request_spawn(Actions& out, TimePoint now, std::optional<TimePoint> death);
  void on_hello(Actions& out, Slot& slot, TimePoint now);
  void on_result(Actions& out, Slot& slot, proto::Result result, TimePoint now);
  void make_idle(Actions& out, Slot& slot, TimePoint now);
  void run_on(Actions& out, Slot& slot, JobTicket ticket, TimePoint now);
  void send_run(Actions& out, Slot& slot, const JobTicket& ticket, nlohmann::json params, TimePoint now);
  void send_ahead(Actions& out, TimePoint now);
  void start_next(Actions& out, Slot& slot, TimePoint now);
  void requeue_ahead(Actions& out, Slot& slot, TimePoint now);
  void kill(Actions& out, Slot& slot, TimePoint now);
  void broken(Actions& out, Slot& slot, std::string why, TimePoint now);
  void retire(Actions& out, Slot& slot);
  void remove_idle(const Slot& slot);

  ProcessPoolOptions options_;
  std::uint64_t cpu_seconds_per_job_;
  std::map<WorkerId, Slot> slots_;                        // alive or not yet reaped
  std::vector<WorkerId> idle_;                            // last in runs next (warm)
  std::deque<JobTicket> queue_;                           // accepted, waiting for an idle worker
  std::size_t ahead_ = 0;                                 // jobs sent ahead, not withdrawn
  std::unordered_map<JobSeq, WorkerId> running_;          // job -> the worker running it
  std::map<std::uint64_t, PendingSpawn> pending_spawns_;  // asked, not yet answered
  std::uint64_t next_token_ = 0;
  WorkerId next_worker_ = 0;
  unsigned startup_failures_ = 0;  // workers in a row that died before their hello or first job
  std::uint64_t crashes_ = 0;      // died on their own (signal, exit, broken frame)
  std::uint64_t kills_ = 0;        // killed by jobd: deadline, cancel
  std::uint64_t recycles_ = 0;     // retired after --worker-max-jobs
  bool backing_off_ = false;
  bool pool_was_up_ = false;
  bool fork_server_alive_ = true;
  bool shut_down_ = false;
};

}  // namespace jobd::exec
