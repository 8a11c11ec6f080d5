#include "jobd/proto/outcome.hpp"

#include <new>

namespace jobd::proto {

Outcome Outcome::success(nlohmann::json result) {
  Outcome outcome;
  outcome.result = std::move(result);
  return outcome;
}

Outcome Outcome::failure(std::string_view error_type, std::string error_message, JobState state) {
  Outcome outcome;
  outcome.state = state;
  outcome.error_type = error_type;
  outcome.error_message = std::move(error_message);
  return outcome;
}

Outcome Outcome::retryable_failure(std::string error_message) {
  Outcome outcome = failure(job_error::kind_failed, std::move(error_message));
  outcome.retryable = true;
  return outcome;
}

Outcome outcome_from_exception(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::bad_alloc&) {
    // In a worker process this is usually its address-space limit (--worker-memory).
    return Outcome::failure(job_error::out_of_memory, "allocation failed (memory limit reached)");
  } catch (const RetryableError& e) {
    return Outcome::retryable_failure(e.what());
  } catch (const std::exception& e) {
    return Outcome::failure(job_error::internal, e.what());
  } catch (...) {
    return Outcome::failure(job_error::internal, "unknown exception");
  }
}

}  // namespace jobd::proto
