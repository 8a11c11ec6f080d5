#include "exec/subprocess/job_outcome.hpp"

namespace jobd::exec {

namespace {

std::int64_t cpu_us(const timeval& tv) { return tv.tv_sec * 1'000'000LL + tv.tv_usec; }

// The state and error of `outcome` from `from`, keeping its details.
void take_end(Outcome& outcome, Outcome from) {
  outcome.state = from.state;
  outcome.error_type = std::move(from.error_type);
  outcome.error_message = std::move(from.error_message);
}

}  // namespace

Outcome job_outcome(const ChildEnd& end, OutputCapture& out, OutputCapture& err) {
  Outcome outcome;
  nlohmann::json& details = outcome.details;
  if (end.pid > 0) details["pid"] = end.pid;
  if (end.reaped) {
    const posix::ExitStatus exit = end.reaped->exit;
    details["duration_ms"] = end.run_time.count();
    // CPU time of the child and its reaped descendants (the `auto` executor will want it). Not
    // ru_maxrss: before its exec the child ran in jobd's memory (vfork), so that is jobd's size.
    details["cpu_ms"] = (cpu_us(end.reaped->usage.ru_utime) + cpu_us(end.reaped->usage.ru_stime)) / 1000;
    if (exit.exited()) {
      details["exit_code"] = exit.status;
    } else {
      details["signal"] = posix::signal_name(exit.status);
    }
    details["truncated"] = {{"stdout", out.truncated()}, {"stderr", err.truncated()}};
    out.move_into(details, "stdout");
    err.move_into(details, "stderr");
  }

  if (end.stop_reason) {
    take_end(outcome, stopped_outcome(*end.stop_reason));
    if (end.run_limit) {
      outcome.error_message = "run time limit of " + std::to_string(end.run_limit->count()) +
                              " ms exceeded (the command's timeout_ms)";
    }
  } else if (end.error) {
    take_end(outcome, proto::outcome_from_exception(end.error));
  } else if (!end.spawn_error.empty()) {
    take_end(outcome, Outcome::failure(proto::job_error::spawn_failed, end.spawn_error));
  } else if (!end.reaped) {
    take_end(outcome, Outcome::failure(proto::job_error::internal,
                                       "lost track of the child process (see jobd's log)"));
  } else if (end.reaped->exit.exited_cleanly()) {
    outcome.result = {{"exit_code", 0}};
  } else {
    take_end(outcome,
             Outcome::failure(proto::job_error::exit_status, posix::describe_exit(end.reaped->exit)));
  }
  return outcome;
}

}  // namespace jobd::exec
