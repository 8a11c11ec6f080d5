// How a subprocess job's end reads as its Outcome: the final state, the error, and the
// record's details (pid; when jobd reaped the child: exit_code or signal, duration_ms, cpu_ms,
// stdout/stderr and their truncated flags). Pure: the executor gathers what happened, this
// decides what it means (tests/unit/job_outcome_test.cpp).
//
// Precedence, first match wins: stopped by jobd (cancel, deadline, the command's own timeout,
// shutdown; the output so far is kept) > an exception escaped the supervision > the child
// could not be started > jobd lost track of it > exit code 0 (succeeded) > any other end
// (failed, `exit-status`).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <exception>
#include <optional>
#include <string>

#include "exec/executor.hpp"
#include "exec/posix/child_process.hpp"
#include "exec/subprocess/output_capture.hpp"

namespace jobd::exec {

struct ChildEnd {
  pid_t pid = -1;                         // -1: it never started
  std::string spawn_error;                // why it could not be started
  std::optional<posix::Reaped> reaped;    // how it ended; empty when jobd lost track of it
  std::chrono::milliseconds run_time{0};  // spawn to exit
  std::optional<StopReason> stop_reason;  // stopped by jobd
  // Set when the command's own run-time limit (its timeout_ms) stopped it.
  std::optional<std::chrono::milliseconds> run_limit;
  std::exception_ptr error;  // escaped the supervising coroutine
};

// Moves the captured output into the outcome's details.
Outcome job_outcome(const ChildEnd& end, OutputCapture& out, OutputCapture& err);

}  // namespace jobd::exec
