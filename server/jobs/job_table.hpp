// JobTable: every job jobd knows, and the only place job state changes.
//
// Owned by the loop thread and never locked: executors on other threads hand results back with
// asio::post, and the scheduler applies them here. The interface is deliberately narrow
// (create, transition, get, list, watch) so that a durable backend can sit behind it later
// (DESIGN §7) without touching the HTTP handlers. Sans-I/O: no timers, no sockets; the clock
// is passed in, so tests drive retention by hand.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "jobs/job.hpp"

namespace jobd::jobs {

struct RetentionLimits {
  std::size_t max_finished = 10000;                            // finished jobs kept (oldest evicted first)
  std::chrono::milliseconds retention{std::chrono::hours(1)};  // how long a finished job is kept
  std::size_t event_history = 1024;  // events kept per job for SSE resume (oldest dropped)
};

using WatchId = std::uint64_t;
// Hears every event of a job (or of all jobs), on the loop thread, as it happens.
using Observer = std::function<void(const Job&, const JobEvent&)>;

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

struct JobCounts {
  std::size_t total = 0;
  std::size_t active = 0;  // queued or running
  std::size_t finished = 0;
};

class JobTable {
 public:
  explicit JobTable(RetentionLimits limits);

  // Creates a queued job with a fresh unguessable id.
  Job& create(const kinds::Kind& kind, proto::Executor executor, nlohmann::json params,
              std::chrono::milliseconds timeout, std::optional<std::string> idempotency_key,
              Clock::time_point now);
  // Removes a job that was never admitted (its executor refused it).
  void discard(JobSeq seq);

  Job* get(std::string_view id);
  Job* get(JobSeq seq);
  Job* find_by_idempotency_key(std::string_view key);

  void mark_running(Job& job, Clock::time_point now);
  // Progress is recorded as an event only while someone streams the job's events.
  void report_progress(Job& job, double fraction, std::string text);
  void report_output(Job& job, EventType stream, std::string line);
  // Moves the job to a final state and wakes its observers. A job already final is left as it
  // was (a late result after a timeout or cancel is dropped); returns whether it changed.
  bool finish(Job& job, proto::JobState state, nlohmann::json result, std::optional<JobError> error,
              Clock::time_point now);

  ListPage list(const ListFilter& filter) const;

  WatchId watch(JobSeq seq, Observer observer);
  void unwatch(JobSeq seq, WatchId id);
  bool watched(JobSeq seq) const { return observers_.contains(seq); }
  // Observers of every job's state events (GET /v1/events).
  WatchId watch_all(Observer observer);
  void unwatch_all(WatchId id);

  // Evicts finished jobs older than the retention; returns how many went.
  std::size_t evict_expired(Clock::time_point now);
  JobCounts counts() const;
  const RetentionLimits& limits() const { return limits_; }

 private:
  void publish(Job& job, JobEvent event);
  void evict(JobSeq seq);

  RetentionLimits limits_;
  JobSeq next_seq_ = 1;
  WatchId next_watch_ = 1;
  std::map<JobSeq, std::unique_ptr<Job>> jobs_;  // ordered by creation
  // Looked up by string_view without building a std::string (ids are 32 bytes: past the
  // small-string buffer, so each lookup would allocate).
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  using StringIndex = std::unordered_map<std::string, JobSeq, StringHash, std::equal_to<>>;
  StringIndex by_id_;
  StringIndex by_idempotency_key_;
  std::deque<JobSeq> finished_order_;  // by finish time, for eviction
  std::unordered_map<JobSeq, std::vector<std::pair<WatchId, Observer>>> observers_;
  std::vector<std::pair<WatchId, Observer>> global_observers_;
};

// 128 random bits from OpenSSL's CSPRNG, as 32 lowercase hex digits.
std::string make_job_id();

}  // namespace jobd::jobs
