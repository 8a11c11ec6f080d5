// Turning what a kind's code returned (or threw) into an executor Outcome: one place for the
// four executors.
#pragma once

#include <exception>
#include <new>

#include "exec/executor.hpp"
#include "kinds/kind.hpp"

namespace jobd::exec {

inline Outcome outcome_from(kinds::KindResult result) {
  Outcome outcome;
  if (result.ok) {
    outcome.result = std::move(result.result);
  } else {
    outcome.state = proto::JobState::failed;
    outcome.error_type = std::move(result.error_type);
    outcome.error_message = std::move(result.error_message);
  }
  return outcome;
}

// A kind that threw: an allocation failure is the job's, anything else an internal error.
inline Outcome outcome_from(const std::exception_ptr& error) {
  Outcome outcome;
  outcome.state = proto::JobState::failed;
  outcome.error_type = proto::job_error::internal;
  try {
    std::rethrow_exception(error);
  } catch (const std::bad_alloc&) {
    outcome.error_type = proto::job_error::out_of_memory;
    outcome.error_message = "allocation failed";
  } catch (const std::exception& e) {
    outcome.error_message = e.what();
  } catch (...) {
    outcome.error_message = "unknown exception";
  }
  return outcome;
}

}  // namespace jobd::exec
