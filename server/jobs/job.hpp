// A job as jobd keeps it. Owned by the JobTable on the loop thread; no other thread sees it, and
// nothing but the JobTable writes it (everyone else gets a const Job&).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "exec/job_control.hpp"
#include "jobd/proto/job.hpp"
#include "jobs/id_index.hpp"

namespace jobd::kinds {
struct Kind;
}

namespace jobd::jobs {

using Clock = std::chrono::system_clock;
// Internal handle of a job: increasing with creation time, so it orders listings and cursors.
using JobSeq = std::uint64_t;

struct JobError {
  std::string type;  // proto::job_error
  std::string message;
};

// One entry of a job's event history, the source of its SSE stream. Kept small and unrendered:
// most jobs are never watched, so JSON is produced only when a subscriber reads.
enum class EventType { state, progress, stdout_line, stderr_line };

struct JobEvent {
  std::uint64_t id = 0;  // 1, 2, 3, ... per job: the SSE id that Last-Event-ID resumes after
  EventType type = EventType::state;
  proto::JobState state = proto::JobState::queued;  // state events
  Clock::time_point at;
  double fraction = 0.0;  // progress events
  std::string text;       // progress text, or one output line
};

std::string_view to_string(EventType type) noexcept;

struct Job {
  JobSeq seq = 0;
  std::string id;  // public, unguessable
  const kinds::Kind* kind = nullptr;
  proto::Executor executor = proto::Executor::loop;
  proto::JobState state = proto::JobState::queued;
  // The JSON texts of the record (jobs/record.hpp), each rendered once: the params at
  // submission (the executor gets the DOM), the result when the job succeeds (empty before),
  // and the executor fields (worker_pid, exit_code, stdout, ...) as one object, numbers and
  // booleans first up to details_brief_end; empty when there are none. Text is what a read
  // splices into its answer and what a durable store keeps.
  std::uint32_t details_brief_end = 0;
  std::string params;
  std::string result;
  std::string details;
  std::optional<std::string> idempotency_key;
  std::chrono::milliseconds timeout{0};
  Clock::time_point created_at;
  std::optional<Clock::time_point> started_at;
  std::optional<Clock::time_point> finished_at;
  std::unique_ptr<const JobError> error;  // when failed, cancelled or timed out
  // Attempts (jobs/retry_policy.hpp): `attempt` is the one running, or the next one while the
  // job waits to retry; each earlier attempt's error is one object of the JSON array text
  // `attempts` ({attempt, type, message, started_at?, finished_at}; empty: none).
  std::uint32_t attempt = 1;
  std::uint32_t max_attempts = 1;
  std::chrono::milliseconds retry_delay{0};  // base of the backoff
  // While queued: not to be dispatched before this (a delayed job, or a retry's backoff).
  // Cleared when the job starts or ends.
  std::optional<Clock::time_point> run_at;
  std::string attempts;
  double progress = 0.0;
  // Shared with the executor while the job is queued or running; released when it is final
  // (nothing reads it then, and most retained jobs are final).
  std::shared_ptr<exec::JobControl> control;

  // The event history (--event-history), kept small because most jobs are never watched. A
  // job's state events are not stored: the queued event is always id 1, and the running and
  // final ones are the ids below, at started_at and finished_at. Progress and output events
  // are stored, oldest first, in a deque made on the first one. Events older than
  // first_kept_event fell out of the history. history() puts them together.
  std::uint64_t next_event_id = 1;
  std::uint64_t first_kept_event = 1;
  std::uint64_t running_event = 0;  // 0: none
  std::uint64_t final_event = 0;    // 0: none
  std::unique_ptr<std::deque<JobEvent>> other_events;
  std::uint32_t event_subscribers = 0;  // open SSE streams on this job (progress is kept for them)

  // A durable store's writes of this job not committed yet (jobs/job_table_store.cpp), kept
  // here rather than in maps keyed by seq (a node, a hash insert and an erase per job each):
  // the slot of its pending final state in the table (index + 1; 0: none; next to
  // event_subscribers, in what was padding), and the store::Ticket of its insert (0: committed;
  // JobTable::kHeldInsert: not written yet, held for its final state, JobTable::create).
  std::uint32_t final_slot = 0;
  std::uint64_t insert_ticket = 0;

  // The state a reader sees: a thread job is running as soon as its pool thread says so
  // (through an atomic), before any hand-off back to the loop.
  proto::JobState visible_state() const;
  std::optional<Clock::time_point> visible_started_at() const;
  // The retained events, oldest first (an SSE replay).
  std::vector<JobEvent> history() const;
};

// 128 random bits from OpenSSL's CSPRNG, as 32 lowercase hex digits.
std::string make_job_id();
// The same, written into `id` (whose buffer is reused).
void make_job_id(std::string& id);
// The key (jobs/id_index.hpp) of the id this thread's next make_job_id will write, when its
// bytes are drawn already (nullopt when that call draws a new block): what to prefetch.
std::optional<IdKey> next_job_id_key();

// RFC 3339 UTC with milliseconds: 2026-11-26T16:01:22.123Z
std::string format_rfc3339(Clock::time_point time);
void append_rfc3339(std::string& out, Clock::time_point time);

}  // namespace jobd::jobs
