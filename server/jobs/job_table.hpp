// JobTable: every job jobd knows, and the only writer of job state.
//
// Owned by the loop thread and never locked: executors on other threads hand results back with
// asio::post, and the scheduler passes them on here. Handlers and executors only ever see a
// const Job. The writing interface is deliberately narrow, because it is the seam a durable or
// shared store sits behind (docs/DESIGN.md, "the store seam"):
//   create            a queued job (id, params, deadline, idempotency key)
//   start             queued -> running, with executor fields (worker_pid, pid)
//   progress, output  events of a running job (kept only while watched / in the history)
//   finish            -> a final state, with the Outcome (result or error, executor fields)
//   retry             running -> queued again for its next attempt, at run_at
//   discard, evict    a job that was never admitted; finished jobs past their retention
// and for readers: get, find_by_idempotency_key, list, counts, and watch (observers of a job's
// events or of every job's state changes). Sans-I/O: no timers, no sockets; the clock is
// passed in, so tests drive retention by hand.
//
// With a durable store (store/job_store.hpp) every transition is also written there as a row
// (jobs/job_rows.hpp), and nothing is shown before it is committed: a new job is left out of
// list() and of the live event streams until its insert committed (its submitter waits for
// when_committed), and a final state is kept aside (a "pending final": the job still reads as
// queued or running) until the commit holding it completed, then applied and published.
// Without one (memory:), no row is built and nothing waits: the table behaves and costs as it
// did before stores existed.
#pragma once

#include <array>
#include <atomic>
#include <boost/container/small_vector.hpp>
#include <chrono>
#include <concepts>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "jobd/proto/outcome.hpp"
#include "jobs/commit_waiters.hpp"
#include "jobs/id_index.hpp"
#include "jobs/job.hpp"
#include "store/job_store.hpp"

namespace jobd::jobs {

struct RetentionLimits {
  std::size_t max_finished = 10000;                            // finished jobs kept (oldest evicted first)
  std::chrono::milliseconds retention{std::chrono::hours(1)};  // how long a finished job is kept
  std::size_t event_history = 1024;  // events kept per job for SSE resume (oldest dropped)
  // Retained bytes of finished jobs kept (oldest evicted first; the newest is always kept).
  std::uint64_t max_retained_bytes = std::uint64_t{1} << 30;
};

using WatchId = std::uint64_t;
// Hears every event of a job (or of all jobs), on the loop thread, as it happens.
using Observer = std::function<void(const Job&, const JobEvent&)>;

// What a watcher of one job reads.
enum class Watch {
  states,  // its state changes (a long-poll waiting for the final state)
  events,  // everything: progress and output too, with starts as they happen (an SSE stream)
};
// What a watcher of every job is.
enum class WatchAll {
  recorder,  // counts and times state changes after the fact (metrics): a start may arrive
             // together with the job's end
  stream,    // shows them live (GET /v1/events): starts are handed over as they happen
};

struct ListFilter {
  std::optional<proto::JobState> state;
  std::optional<std::string> kind;
  std::size_t limit = 50;
  std::optional<JobSeq> before;  // cursor: only jobs older than this one
};

struct ListPage {
  std::vector<const Job*> jobs;       // newest first
  std::optional<JobSeq> next_cursor;  // set when more may follow
};

// How a job is to run, fixed at submission: its attempts and when the first one may start.
struct RunPlan {
  std::uint32_t max_attempts = 1;
  std::chrono::milliseconds retry_delay{0};
  std::optional<Clock::time_point> run_at;  // none: at once
};

struct JobCounts {
  std::size_t total = 0;
  std::size_t active = 0;  // queued or running
  std::size_t finished = 0;
};

// A final state computed by finish(): applied at once, or when the commit holding it completed.
struct FinalState {
  proto::JobState state = proto::JobState::failed;
  std::string result;                     // JSON text when it succeeded
  std::optional<std::string> details;     // the merged executor fields, when they changed
  std::uint32_t details_brief_end = 0;    // with details
  std::unique_ptr<const JobError> error;  // when it did not succeed
  Clock::time_point at;
  store::Ticket ticket = 0;  // the write that holds it (a durable store)
};

class JobTable {
 public:
  // `store` (not owned; may be null: memory) receives every transition when it is durable.
  explicit JobTable(RetentionLimits limits, store::JobStore* store = nullptr);
  ~JobTable();

  // ---- transitions: the only code that writes job state ------------------------------------
  // Creates a queued job with a fresh unguessable id. `params` is JSON text (to_json_text).
  // `hold_insert` (a durable store): the insert is not written yet but held, so that a job that
  // ends soon reaches the store as one row, final, in one commit (a submit that waits for the
  // end needs no commit before it). The hold ends with the job's final state or retry, or when
  // release_insert() or a wait for the insert's commit asks. Until then the job is what any job
  // whose insert is not committed yet is: unlisted, unacknowledged, lost in a crash.
  const Job& create(const kinds::Kind& kind, proto::Executor executor, std::string params,
                    std::chrono::milliseconds timeout, std::optional<std::string> idempotency_key,
                    Clock::time_point now, RunPlan plan = {}, bool hold_insert = false);
  // A DOM would convert to std::string implicitly (and throw unless it is a JSON string).
  template <class Json>
  requires std::same_as<std::remove_cvref_t<Json>, nlohmann::json>
  const Job& create(const kinds::Kind&, proto::Executor, Json&&, std::chrono::milliseconds,
                    std::optional<std::string>, Clock::time_point, RunPlan = {}) = delete;
  // Removes a job that was never admitted (its executor refused it).
  void discard(JobSeq seq);
  // queued -> running; `details` (an object or null) joins the record. Ignored unless queued.
  void start(JobSeq seq, nlohmann::json details, Clock::time_point now);
  // Progress is recorded as an event only while someone streams the job's events.
  void progress(JobSeq seq, double fraction, std::string text);
  void output(JobSeq seq, EventType stream, std::string line);
  // Moves the job to the outcome's final state and wakes its observers. A job already final is
  // left as it was (a late result after a timeout or cancel is dropped); returns whether it
  // changed. A job that started without a start() (JobControl::started_ns, a thread job nobody
  // watched) gets its running event first, stamped with its real start.
  bool finish(JobSeq seq, proto::Outcome outcome, Clock::time_point now);
  // An attempt failed and the job will be tried again: back to queued, attempt + 1, waiting
  // until `run_at`. The failed attempt's error (and start) joins `attempts`; its executor fields,
  // start and progress are cleared, and the job gets a fresh JobControl (the old one may still
  // be held by an executor that has not let go). Publishes a queued state event. Ignored
  // (returns false) unless the job is queued or running with attempts left and `outcome` is a
  // failure; the caller decides whether the failure may be retried (jobs/retry_policy.hpp).
  bool retry(JobSeq seq, const proto::Outcome& outcome, Clock::time_point run_at, Clock::time_point now);
  // Removes a job at once, finished or not, leaving no trace (jobs/adopt.cpp): a shared
  // store's job once the store holds its end. Not for a job an executor still runs.
  void forget(JobSeq seq);
  // Evicts finished jobs older than the retention; returns how many went.
  std::size_t evict_expired(Clock::time_point now);

  // ---- the store (jobs/job_table_store.cpp) ------------------------------------------------------
  static constexpr store::Ticket kHeldInsert = ~store::Ticket{0};  // Job::insert_ticket of a held insert
  // Whether transitions are written to a durable store (and gated on its commits).
  bool durable() const { return durable_; }
  // The store's health (always ok without a durable store).
  store::StoreHealth store_health() const;
  // Whether the job's insert is committed (always, without a durable store; and for a job no
  // longer in the table).
  bool committed(JobSeq seq) const;
  bool committed(const Job& job) const { return job.insert_ticket == 0; }
  // Whether the job's insert is held (create's hold_insert) and not written yet.
  static bool insert_held(const Job& job) { return job.insert_ticket == kHeldInsert; }
  // Writes a held insert now (the job as it is); false when there was none.
  bool release_insert(JobSeq seq);
  // Runs `done` on the loop once the job's insert is committed: at once when it is.
  void when_committed(JobSeq seq, std::function<void()> done);
  // Links `waiter` to wake once the job's insert is committed; false (not linked) when it is.
  bool wait_committed(JobSeq seq, CommitWaiters::Waiter& waiter);
  // Whether the job has ended but its final state waits for its commit (it reads as before).
  bool final_pending(JobSeq seq) const;
  bool final_pending(const Job& job) const { return job.final_slot != 0; }
  // Runs `done` once the job's pending final state is applied: at once when none is pending.
  void when_final_applied(JobSeq seq, std::function<void()> done);
  // Links `waiter` to wake once the job's pending final is applied; false when none is pending.
  bool wait_final_applied(JobSeq seq, CommitWaiters::Waiter& waiter);
  // Runs `done` once every change written so far is committed: at once without a durable store.
  void when_all_committed(std::function<void()> done);
  // Start-up, before the loop serves: adds a job as the store kept it (`kind` found by the
  // caller: a placeholder for a kind no longer registered). Queued and running rows come back
  // queued; the caller resubmits or fails them. Nothing is written.
  const Job& restore(store::JobRow& row, const kinds::Kind& kind);
  // After the last restore: seqs continue after `max_seq`; finished jobs are ordered by finish
  // time and cut to the limits.
  void end_restore(JobSeq max_seq);

  // What a finished job holds beyond its fixed bookkeeping: the bytes of its params, result,
  // executor fields, error and retained progress and output texts. Fixed once it is final.
  static std::uint64_t retained_bytes_of(const Job& job);
  // The sum over the finished jobs kept, bounded by max_retained_bytes.
  std::uint64_t retained_bytes() const { return retained_bytes_; }

  // ---- reads -------------------------------------------------------------------------------
  const Job* get(std::string_view id) const;
  const Job* get(JobSeq seq) const;
  const Job* find_by_idempotency_key(std::string_view key) const;
  // Newest first, from indexes by kind and phase: a page costs O(limit) whatever the filter
  // matches, never a scan of the table.
  ListPage list(const ListFilter& filter) const;
  // Every queued or running job, oldest first (shutdown stops them).
  std::vector<JobSeq> active_jobs() const;
  JobCounts counts() const;
  const RetentionLimits& limits() const { return limits_; }

  // ---- observers (loop thread) --------------------------------------------------------------
  WatchId watch(JobSeq seq, Observer observer, Watch what = Watch::states);
  void unwatch(JobSeq seq, WatchId id);
  bool watched(JobSeq seq) const { return observers_.contains(seq); }
  WatchId watch_all(Observer observer, WatchAll what);
  void unwatch_all(WatchId id);

 private:
  struct Watcher {
    WatchId id;
    Watch what;
    Observer observer;
  };
  struct GlobalWatcher {
    WatchId id;
    WatchAll what;
    Observer observer;
    bool removed = false;  // unwatched while the observers were being called
  };
  // A finished job in eviction order. The id's key rides along, so that eviction finds the
  // id's slot without reading the job's id text, and can prefetch the next victim's slot.
  struct Finished {
    JobSeq seq;
    IdKey key;
    bool keyed;  // key is the id's (a canonical id: not one a restored row made up)
  };

  // Where a job is listed: queued and running jobs together (a thread job reads as running
  // before the table hears of it, so the two are told apart when listing), then each end.
  enum class Phase : std::uint8_t { active, succeeded, failed, cancelled, timed_out };
  static constexpr std::size_t kPhases = 5;
  static Phase phase_of(proto::JobState state);
  using SeqIndex = std::set<JobSeq>;
  SeqIndex& index_of(const Job& job);
  static SeqIndex::node_type extract_seq(SeqIndex& set, JobSeq seq);

  Job* find(JobSeq seq);
  void set_running(Job& job, Clock::time_point at);
  void publish(Job& job, JobEvent event);
  // The global observers (job_table_watch.cpp). A live stream (WatchAll::stream) is told of a
  // job only once its insert is committed: until then a crash may take the job, which then
  // never existed for anyone. announce() tells the streams what they were not told then.
  void notify_all(Job& job, const JobEvent& event);
  void announce(Job& job);
  enum class Audience { everyone, recorders, streams };  // which global observers hear an event
  void notify_global(Job& job, const JobEvent& event, Audience audience);
  // `finished`: its final state is committed, so the store may delete its row later
  // (JobStore::evict); else (discard) the row is removed in the next commit.
  void evict(JobSeq seq, bool finished, const Finished* entry = nullptr);
  void evict_oldest_finished();
  FinalState final_state(Job& job, proto::Outcome outcome, Clock::time_point now) const;
  void apply_final(Job& job, FinalState final);
  void hold_final(Job& job, FinalState final);  // until the commit holding it (final.ticket)
  void apply_pending_final(Job& job);
  // A job leaving the table with writes not yet committed: the batch that settles them finds
  // nothing to do (its Job may be gone, or reused by another job).
  void drop_pending(Job& job);
  void write_update(const Job& job);
  // Writes the held insert of `job`, with the final state it is taking when given.
  void release_insert(Job& job, const FinalState* final = nullptr);
  void on_durable(store::Ticket through);
  // The job, when its insert (its final state) is held for a commit; else null, as it is
  // without a durable store or for a job not in the table.
  const Job* awaiting_insert(JobSeq seq) const;
  const Job* awaiting_final(JobSeq seq) const;

  RetentionLimits limits_;
  JobSeq next_seq_ = 1;
  WatchId next_watch_ = 1;
  using JobsMap = std::map<JobSeq, std::unique_ptr<Job>>;
  JobsMap jobs_;  // ordered by creation
  // The newest jobs by seq, direct-mapped (seq modulo kRecent), in front of jobs_: the scheduler
  // looks a job up by seq several times in its life, nearly always while it is among the newest,
  // and the map's walk missed the cache with 100,000 jobs retained. A slot is cleared when its
  // job leaves the table, so it never points at a job that is gone.
  static constexpr std::size_t kRecent = 4096;
  std::array<Job*, kRecent> recent_{};
  void remember(Job& job) { recent_[job.seq % kRecent] = &job; }
  // Keys are views of the job's own id and idempotency key (a Job never moves while it is in
  // the table, and leaves these indexes before it is destroyed): no copy of either per job,
  // and a lookup by string_view builds no std::string.
  IdIndex by_id_;  // flat, keyed by the id's 16 bytes (jobs/id_index.hpp)
  using StringIndex = std::unordered_map<std::string_view, Job*>;
  StringIndex by_idempotency_key_;
  std::deque<Finished> finished_order_;  // by finish time, for eviction
  std::uint64_t retained_bytes_ = 0;     // retained_bytes_of() summed over finished_order_
  void push_finished(const Job& job);
  // Loads what the next eviction touches (the next victim's job and its id's slot) while
  // this job's work goes on: with 100,000 jobs retained each was a cache miss when needed.
  void prefetch_next_victim() const;
  // Every job in exactly one set: by kind (stable pointers into the registry), then by phase.
  std::unordered_map<const kinds::Kind*, std::array<SeqIndex, kPhases>> index_;
  // Most watched jobs have one watcher (a long-poll): inline, so watching allocates one node.
  using Watchers = boost::container::small_vector<Watcher, 1>;
  std::unordered_map<JobSeq, Watchers> observers_;
  std::vector<GlobalWatcher> global_observers_;
  std::vector<GlobalWatcher> added_observers_;  // watch_all while notifying: joins after
  int notifying_ = 0;                           // depth of notify_all calls
  bool observers_removed_ = false;              // some global observers are marked removed
  // What evicted jobs leave for the next ones to reuse, up to kSpares of each: the job with its
  // map node (and its id's buffer) and the phase set's node. With the table full every submit
  // evicts: a create then allocates none of them.
  static constexpr std::size_t kSpares = 16;
  std::vector<JobsMap::node_type> spare_jobs_;
  std::vector<SeqIndex::node_type> spare_phases_;
  void recycle(JobsMap::node_type job, SeqIndex::node_type phase);
  // Live streams of every job's state (WatchAll::stream); read by executor threads through
  // JobControl::all_watchers.
  std::atomic<std::uint32_t> live_streams_{0};
  // The store, when durable (null otherwise); and what waits for its commits.
  store::JobStore* store_ = nullptr;
  bool durable_ = false;
  // A job's insert not yet committed is its Job::insert_ticket; a final state not yet committed
  // waits in one of these slots (Job::final_slot), reused by later jobs: a batch's worth of
  // slots, then no allocation per job.
  std::vector<FinalState> final_slots_;
  std::vector<std::uint32_t> free_final_slots_;  // indexes into final_slots_
  // Both by ticket (tickets only grow): what a batch's completion settles, walked once per
  // batch (on_durable) rather than a store callback per change. `job` is null once the job left
  // the table (drop_pending): a Job is reached here without a lookup, and never after it went.
  struct Pending {
    store::Ticket ticket;
    Job* job;
    bool final;  // a pending final; else a pending insert
  };
  std::deque<Pending> pending_by_ticket_;
  CommitWaiters commit_waiters_;  // waits on those, woken after the table settled the batch
  store::Ticket last_ticket_ = 0;
};

}  // namespace jobd::jobs
