// How a job ended: one type from a kind's code to the job record. A kind returns it, a worker
// process sends it back in its RESULT frame, an executor adds its own fields (`details`) and
// hands it to the job table, which records it. Nothing converts between shapes on the way.
#pragma once

#include <exception>
#include <nlohmann/json.hpp>
#include <stdexcept>
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
  // A failure the kind says may pass on another attempt (a flaky dependency): a job with
  // attempts left is retried after it (jobs/retry_policy.hpp). Crashes and timeouts are retried
  // whatever this says; a kind's own failure only when it sets this.
  bool retryable = false;

  bool ok() const noexcept { return state == JobState::succeeded; }

  static Outcome success(nlohmann::json result);
  // A failure the kind (or the executor) reports; `state` is failed, cancelled or timed_out.
  static Outcome failure(std::string_view error_type, std::string error_message,
                         JobState state = JobState::failed);
  // A kind's failure (`kind-failed`) marked retryable.
  static Outcome retryable_failure(std::string error_message);

  friend bool operator==(const Outcome&, const Outcome&) = default;
};

// What a kind's code throws to fail in a way another attempt may cure (a timeout talking to a
// dependency): the job fails with `kind-failed` and the exception's text, retryable.
class RetryableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The one mapping of an exception that escaped a kind's code: an allocation failure is the
// job's (`out-of-memory`), a RetryableError a retryable `kind-failed`, anything else an
// `internal` error with the exception's text.
Outcome outcome_from_exception(const std::exception_ptr& error);

}  // namespace jobd::proto
