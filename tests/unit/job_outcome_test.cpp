// What a subprocess job's end means (exec/subprocess/job_outcome), without a process: the
// state, the error and the record's details for each way a child can end, and which reason
// wins when several apply.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <new>
#include <stdexcept>

#include "exec/subprocess/job_outcome.hpp"

using namespace jobd::exec;
using namespace std::chrono_literals;
using jobd::proto::JobState;
using nlohmann::json;

namespace {

ChildEnd reaped(int code, int status) {
  ChildEnd end;
  end.pid = 4242;
  posix::Reaped how;
  how.exit = {code, status};
  how.usage.ru_utime = {1, 200'000};
  how.usage.ru_stime = {0, 300'000};
  end.reaped = how;
  end.run_time = 1750ms;
  return end;
}

// An outcome with "out\n" captured on stdout and nothing on stderr.
jobd::proto::Outcome outcome_of(const ChildEnd& end) {
  OutputCapture out(1024), err(1024);
  out.append("out\n", [](std::string_view) {});
  return job_outcome(end, out, err);
}

}  // namespace

TEST(JobOutcome, ExitCodeZeroSucceedsWithTheRecordsDetails) {
  const auto outcome = outcome_of(reaped(CLD_EXITED, 0));
  EXPECT_EQ(outcome.state, JobState::succeeded);
  EXPECT_EQ(outcome.result, (json{{"exit_code", 0}}));
  EXPECT_EQ(outcome.details["pid"], 4242);
  EXPECT_EQ(outcome.details["exit_code"], 0);
  EXPECT_EQ(outcome.details["duration_ms"], 1750);
  EXPECT_EQ(outcome.details["cpu_ms"], 1500);
  EXPECT_EQ(outcome.details["stdout"], "out\n");
  EXPECT_EQ(outcome.details["stderr"], "");
  EXPECT_EQ(outcome.details["truncated"], (json{{"stdout", false}, {"stderr", false}}));
}

TEST(JobOutcome, ANonZeroExitFailsWithTheCode) {
  const auto outcome = outcome_of(reaped(CLD_EXITED, 3));
  EXPECT_EQ(outcome.state, JobState::failed);
  EXPECT_EQ(outcome.error_type, "exit-status");
  EXPECT_EQ(outcome.error_message, "exited with code 3");
  EXPECT_EQ(outcome.details["exit_code"], 3);
}

TEST(JobOutcome, ASignalFailsNamingItAndHasNoExitCode) {
  const auto outcome = outcome_of(reaped(CLD_KILLED, SIGSEGV));
  EXPECT_EQ(outcome.error_message, "killed by SIGSEGV");
  EXPECT_EQ(outcome.details["signal"], "SIGSEGV");
  EXPECT_FALSE(outcome.details.contains("exit_code"));
}

TEST(JobOutcome, AStopWinsAndKeepsTheOutputSoFar) {
  ChildEnd end = reaped(CLD_KILLED, SIGTERM);
  end.stop_reason = StopReason::cancelled;
  end.error = std::make_exception_ptr(std::runtime_error("also this"));
  const auto cancelled = outcome_of(end);
  EXPECT_EQ(cancelled.state, JobState::cancelled);
  EXPECT_EQ(cancelled.error_message, "cancelled by request");
  EXPECT_EQ(cancelled.details["signal"], "SIGTERM");
  EXPECT_EQ(cancelled.details["stdout"], "out\n");
}

TEST(JobOutcome, TheCommandsOwnTimeoutSaysSo) {
  ChildEnd end = reaped(CLD_KILLED, SIGTERM);
  end.stop_reason = StopReason::timed_out;
  end.run_limit = 300ms;
  const auto outcome = outcome_of(end);
  EXPECT_EQ(outcome.state, JobState::timed_out);
  EXPECT_EQ(outcome.error_type, "timed-out");
  EXPECT_EQ(outcome.error_message, "run time limit of 300 ms exceeded (the command's timeout_ms)");
}

TEST(JobOutcome, AChildThatCouldNotStartFailsAsSpawnFailedWithoutDetails) {
  ChildEnd end;
  end.spawn_error = "cannot run /nope: No such file or directory";
  const auto outcome = outcome_of(end);
  EXPECT_EQ(outcome.state, JobState::failed);
  EXPECT_EQ(outcome.error_type, "spawn-failed");
  EXPECT_EQ(outcome.error_message, end.spawn_error);
  EXPECT_TRUE(outcome.details.is_null());
}

TEST(JobOutcome, AChildJobdLostTrackOfIsAnInternalError) {
  ChildEnd end;
  end.pid = 4242;
  const auto outcome = outcome_of(end);
  EXPECT_EQ(outcome.error_type, "internal");
  EXPECT_EQ(outcome.details, (json{{"pid", 4242}}));
}

TEST(JobOutcome, AnEscapedExceptionIsMappedOnce) {
  ChildEnd end = reaped(CLD_EXITED, 0);
  end.error = std::make_exception_ptr(std::bad_alloc());
  EXPECT_EQ(outcome_of(end).error_type, "out-of-memory");
}
