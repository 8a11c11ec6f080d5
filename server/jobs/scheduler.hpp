// Scheduler: turns API calls into job transitions. It admits jobs (kind, executor, params,
// queue room), arms their deadlines, routes cancels to the right executor, and passes what
// executors report to the job table (it is their JobSink); it never writes a Job itself. Loop
// thread only, like the JobTable it drives.
//
// Attempts and waiting (README, "Retries and delayed jobs"): a job whose attempt failed in a
// retryable way (jobs/retry_policy.hpp) with attempts left goes back to queued with a run_at
// after its backoff; a delayed job (delay_ms, run_at) is created queued with its run_at. Such
// jobs wait in the DueQueue, not in an executor; ONE steady_timer is armed for the earliest of
// them and re-armed only when an earlier one arrives, so nothing polls. When due, a job is
// dispatched (its executor's queue-depth admission applies then, and its deadline is armed then:
// a timeout covers one attempt). If its executor is full, the job keeps its place in a FIFO per
// executor and is dispatched when a job of that executor finishes (a slot freed), or at the
// latest kBlockedRetry later. Executors see one seq per attempt (ticket_seq), so the late result
// of an attempt that was abandoned (a timed-out thread job that ignores its stop token) never
// lands on the next one.
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "exec/executor.hpp"
#include "jobd/proto/job_spec.hpp"
#include "jobd/proto/problem.hpp"
#include "jobs/due_queue.hpp"
#include "jobs/job_table.hpp"
#include "jobs/retry_policy.hpp"

namespace jobd::kinds {
class KindRegistry;
}

namespace jobd::jobs {

struct SchedulerOptions {
  std::chrono::milliseconds default_timeout{std::chrono::minutes(5)};  // when a job names none
  std::chrono::milliseconds max_timeout{std::chrono::hours(1)};        // largest timeout_ms accepted
  unsigned retry_after_s = 1;                                          // Retry-After of 429 and 503 answers
  std::chrono::milliseconds retry_max_delay =
      kDefaultRetryMaxDelay;  // cap of one backoff (--retry-max-delay)
  // Jobs waiting for their time or for room in their executor, beyond which a delayed submit
  // is refused with 429 (--max-waiting-jobs): each holds memory until it runs.
  std::size_t max_waiting = 100'000;
  // How long at most a submit that waits for its job's end (?wait) holds the job's insert back
  // (JobTable::create's hold_insert), hoping to write it final in one commit (--insert-hold):
  // most such jobs end well within it; a longer one is written as it is then, listed and kept
  // like any other. 0: never held.
  std::chrono::milliseconds insert_hold{5};
};

// A slot in a full executor is looked for again at least this often (a job of that executor
// finishing is the usual trigger; this covers room that appears otherwise).
inline constexpr std::chrono::milliseconds kBlockedRetry{100};

struct Submitted {
  const Job* job;
  bool replayed;  // an earlier job with the same idempotency key
};

// What admit() checked and computed from a spec: all a new job needs but its id and seq.
struct Admission {
  const kinds::Kind* kind = nullptr;
  proto::Executor executor = proto::Executor::loop;
  nlohmann::json params;  // validated against the kind's schema
  std::chrono::milliseconds timeout{0};
  Clock::time_point now;
  RunPlan plan;  // plan.run_at: none, or later than now
};

class Scheduler final : public exec::JobSink {
 public:
  Scheduler(boost::asio::any_io_executor loop, JobTable& table, const kinds::KindRegistry& kinds,
            SchedulerOptions options);
  ~Scheduler() override;

  void add_executor(std::unique_ptr<exec::Executor> executor);
  exec::Executor* executor(proto::Executor id) const;

  // `waits_for_end`: the caller answers once the job ends (a submit with ?wait). With a durable
  // store, a job that runs at once and has no idempotency key then has its insert held for up
  // to options.insert_hold (JobTable::create): ended by then, it is written once, final. A keyed job is
  // written first, as always: after a crash its row is what makes a retried submit find it
  // rather than run it again.
  std::variant<Submitted, proto::Problem> submit(proto::JobSpec spec, bool waits_for_end = false);
  // The checks of submit() that need no job table (draining, store health, kind, executor,
  // params, timeout, run_at): a shared store (cluster/) admits with these, then decides itself.
  std::variant<Admission, proto::Problem> admit(const proto::JobSpec& spec) const;
  // Waits until the job's insert is committed (at once without a durable store): a submit is
  // answered only then. False when the wait was cancelled (the client left) first.
  boost::asio::awaitable<bool> wait_committed(JobSeq seq);
  // Waits until the job's final state, ended but waiting for its commit, is applied (at once
  // when none is pending): a cancel that stopped the job answers with its final state.
  boost::asio::awaitable<bool> wait_final_applied(JobSeq seq);
  // DELETE: 404 for an unknown job, 409 for a finished one.
  std::variant<const Job*, proto::Problem> cancel(std::string_view id);
  // Waits until the job is final or `until` passes. Returns the final record's JSON text,
  // rendered as the job finished (it may be evicted right after), or nullopt when the wait ran
  // out first.
  boost::asio::awaitable<std::optional<std::string>> wait_final(JobSeq seq,
                                                                std::chrono::steady_clock::time_point until);

  // Puts a job the table already holds back on its way: the store's recovery after a restart
  // calls it once per job it loaded that is not final, before jobd listens.
  // - queued (a delayed job, a job waiting to retry, a job queued when jobd stopped): with a
  //   run_at still ahead it waits in the due queue; otherwise it is due now and is dispatched on
  //   the loop's next turn, through the same path as any due job (queue-depth admission,
  //   deadline armed at dispatch).
  // - running (jobd stopped under it): the attempt ends as `interrupted`, which the retry policy
  //   retries with backoff while attempts remain (JobTable::retry, then as above); otherwise the
  //   job fails with that error.
  // Final jobs and jobs already held are ignored.
  void resume(const Job& job);
  // A shared store (cluster/, scheduler_adopt.cpp): `row` was claimed there; it joins the table
  // queued and is dispatched like a recovered job. The row's seq and id must not be in the table.
  const Job& adopt(store::JobRow& row, const kinds::Kind& kind);
  // A shared store: attempts are retried there, not here. Every attempt's end makes the job
  // final in the table and then calls `hook`, with whether the retry policy allows another.
  using AttemptEnded = std::function<void(const Job& job, bool retry)>;
  void on_attempt_end(AttemptEnded hook) { attempt_ended_ = std::move(hook); }
  // Queued jobs held here, in no executor: waiting for their run_at or for room.
  std::size_t waiting() const { return held_.size(); }

  // Shutdown: refuse new jobs and dispatch no waiting ones; later stop whatever is still queued
  // in or running on an executor. Waiting jobs are left queued (a durable store keeps them for
  // the next start), and the drain does not wait for them.
  void begin_drain();
  bool draining() const { return draining_; }
  void stop_all(exec::StopReason reason);
  void shutdown_executors();
  bool ready() const;
  JobTable& table() { return table_; }
  const JobTable& table() const { return table_; }
  const SchedulerOptions& options() const { return options_; }

  // exec::JobSink
  void on_started(JobSeq ticket, nlohmann::json details) override;
  void on_progress(JobSeq ticket, double fraction, std::string text) override;
  void on_output(JobSeq ticket, exec::OutputStream stream, std::string_view line) override;
  void on_finished(JobSeq ticket, exec::Outcome outcome) override;

  // The seq an executor knows an attempt by: the job's seq, with attempt - 1 in the top bits
  // (0 for a first attempt, so a job that never retries is known by its own seq).
  static constexpr unsigned kAttemptShift = 58;
  static exec::JobSeq ticket_seq(const Job& job) {
    return job.seq | (static_cast<std::uint64_t>(job.attempt - 1) << kAttemptShift);
  }

 private:
  struct Deadline {
    std::chrono::steady_clock::time_point at;
    JobSeq seq;
    std::uint32_t attempt;
  };
  // admit(), taking the params over from `take_params` when given (submit's own spec).
  std::variant<Admission, proto::Problem> admit(const proto::JobSpec& spec,
                                                nlohmann::json* take_params) const;
  // The job an executor's seq names, or null when it is gone or on another attempt now.
  const Job* job_of(exec::JobSeq ticket) const;
  void dispatch(const Job& job, nlohmann::json params);
  // Returns the attempt's deadline (for its ticket).
  std::chrono::steady_clock::time_point arm_deadline(const Job& job);
  bool deadline_live(const Deadline& deadline) const;
  void arm_deadline_timer(std::chrono::steady_clock::time_point at);
  void on_deadlines();
  void compact_deadlines();
  void stop(const Job& job, exec::StopReason reason);
  // Waiting (scheduler_waiting.cpp).
  void hold(JobSeq seq, Clock::time_point due);
  void arm_due_timer();
  void on_due();
  bool try_dispatch_held(JobSeq seq);  // false: its executor is full
  void dispatch_blocked(proto::Executor id);
  void arm_blocked_timer();
  void finish_or_retry(const Job& job, exec::Outcome outcome);
  // Held inserts (scheduler_commits.cpp).
  void hold_insert(JobSeq seq);
  void arm_hold_timer(std::chrono::steady_clock::time_point at);
  void release_held_inserts(std::chrono::steady_clock::time_point held_since_before);

  boost::asio::any_io_executor loop_;
  JobTable& table_;
  const kinds::KindRegistry& kinds_;
  SchedulerOptions options_;
  bool draining_ = false;
  std::array<std::unique_ptr<exec::Executor>, 4> executors_;  // indexed by proto::Executor
  // Every dispatched attempt's deadline in one min-heap by time, under ONE timer armed for the
  // earliest (an Asio timer per job cost an allocation, a cancel and a posted handler each).
  // An entry is dropped lazily: when it comes due, or when the heap outgrows twice the active
  // jobs (compact_deadlines), or when no job is active; a finished attempt's entry is dead.
  std::vector<Deadline> deadlines_;
  boost::asio::steady_timer deadline_timer_;
  std::optional<std::chrono::steady_clock::time_point> deadline_armed_;  // the timer's expiry, when waiting
  // Cancelled or stopped at shutdown: whatever the attempt ends with, it is not retried.
  std::unordered_set<JobSeq> no_retry_;
  // Waiting jobs: every queued job in no executor is in held_, and either in due_ (waiting for
  // its time) or in blocked_ (due, its executor full; a cancelled one is skipped there).
  std::unordered_set<JobSeq> held_;
  DueQueue due_;
  boost::asio::steady_timer due_timer_;
  std::array<std::deque<JobSeq>, 4> blocked_;  // by proto::Executor, in due order
  boost::asio::steady_timer blocked_timer_;
  bool blocked_timer_armed_ = false;
  // Jobs whose insert is held, in the order the holds began (a job may have ended, and its
  // insert been written, since): ONE timer releases those held insert_hold, armed only while
  // one waits, so a job costs a deque entry, not a timer.
  struct HeldInsert {
    JobSeq seq;
    std::chrono::steady_clock::time_point since;
  };
  std::deque<HeldInsert> held_inserts_;
  boost::asio::steady_timer hold_timer_;
  bool hold_timer_armed_ = false;
  std::mt19937_64 random_{std::random_device{}()};
  AttemptEnded attempt_ended_;  // set: a shared store retries (on_attempt_end)
};

}  // namespace jobd::jobs
