// A job as jobd keeps it. Owned by the JobTable on the loop thread; no other thread sees it, and
// nothing but the JobTable writes it (everyone else gets a const Job&).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "exec/job_control.hpp"
#include "jobd/proto/job.hpp"

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
  nlohmann::json params;
  std::optional<std::string> idempotency_key;
  std::chrono::milliseconds timeout{0};
  Clock::time_point created_at;
  std::optional<Clock::time_point> started_at;
  std::optional<Clock::time_point> finished_at;
  nlohmann::json result;                              // when succeeded
  std::optional<JobError> error;                      // when failed, cancelled or timed out
  nlohmann::json details = nlohmann::json::object();  // executor fields: worker_pid, exit_code, ...
  double progress = 0.0;
  std::shared_ptr<exec::JobControl> control;
  // The newest events (bounded by the table's history limit) and how many went before them.
  std::deque<JobEvent> events;
  std::uint64_t next_event_id = 1;
  std::uint32_t event_subscribers = 0;  // open SSE streams on this job (progress is kept for them)

  // The state a reader sees: a thread job is running as soon as its pool thread says so
  // (through an atomic), before any hand-off back to the loop.
  proto::JobState visible_state() const;
  std::optional<Clock::time_point> visible_started_at() const;
};

// The job record of the API (DESIGN §3).
nlohmann::json to_json(const Job& job);

// RFC 3339 UTC with milliseconds: 2026-11-26T16:01:22.123Z
std::string format_rfc3339(Clock::time_point time);

}  // namespace jobd::jobs
