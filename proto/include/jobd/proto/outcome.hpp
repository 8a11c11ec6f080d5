// How a job ended: one type from a kind's code to the job record. A kind returns it, a worker
// process sends it back in its RESULT frame, an executor adds its own fields (`details`) and
// hands it to the job table, which records it. Nothing converts between shapes on the way.
#pragma once

#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "jobd/proto/job.hpp"

namespace jobd::proto {

struct Outcome {
  JobState state = JobState::succeeded;  // a final state
  nlohmann::json result;                 // when succeeded: what the kind returned
  std::string error_type;                // otherwise: a job_error value (stable)
  std::string error_message;             // otherwise: for people
  // Fields the executor adds to the job record (worker_pid, exit_code, stdout, ...): an object,
  // or null for none (most jobs: no allocation).
  nlohmann::json details;

  bool ok() const noexcept { return state == JobState::succeeded; }

  static Outcome success(nlohmann::json result);
  // A failure the kind (or the executor) reports; `state` is failed, cancelled or timed_out.
  static Outcome failure(std::string_view error_type, std::string error_message,
                         JobState state = JobState::failed);

  friend bool operator==(const Outcome&, const Outcome&) = default;
};

// The one mapping of an exception that escaped a kind's code: an allocation failure is the
// job's (`out-of-memory`), anything else an `internal` error with the exception's text.
Outcome outcome_from_exception(const std::exception_ptr& error);

}  // namespace jobd::proto
