// jobctl submit with attempts and delays against a real jobd: the fields reach the job, `get`
// shows the attempt, run_at and earlier attempts' errors, and the flags' mistakes are usage
// errors (exit code 2) before anything is sent.
#include <gtest/gtest.h>

#include "harness.hpp"
#include "jobctl_process.hpp"

using namespace jobd::testing;
using nlohmann::json;

namespace {

class JobctlRetries : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new JobdProcess({"--test-kinds", "--workers", "1"}); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::uint16_t port() { return server_->port(); }
  static JobctlOutput run(std::vector<std::string> args) { return jobctl(port(), std::move(args)); }
  static JobdProcess* server_;
};
JobdProcess* JobctlRetries::server_ = nullptr;

}  // namespace

TEST_F(JobctlRetries, SubmitSendsAttemptsAndGetShowsEachAttempt) {
  auto submitted = run({"submit", "crash", "--executor", "process", "--max-attempts", "2", "--retry-delay",
                        "20ms", "--wait", "10s", "--json"});
  EXPECT_EQ(submitted.code, 1) << submitted;  // the job failed, after two attempts
  const json job = submitted.json_out();
  EXPECT_EQ(job["max_attempts"], 2);
  EXPECT_EQ(job["attempt"], 2);
  ASSERT_EQ(job["attempts"].size(), 1u) << job;
  auto shown = run({"get", job["id"].get<std::string>()});
  EXPECT_NE(shown.out.find("attempt     2/2\n"), std::string::npos) << shown;
  EXPECT_NE(shown.out.find("attempt 1   crashed: "), std::string::npos) << shown;
}

TEST_F(JobctlRetries, ADelayedJobShowsRunAtUntilItRuns) {
  auto submitted = run({"submit", "echo", "--delay", "300ms", "--json"});
  ASSERT_EQ(submitted.code, 0) << submitted;
  const json job = submitted.json_out();
  EXPECT_EQ(job["state"], "queued");
  ASSERT_TRUE(job.contains("run_at")) << job;
  auto shown = run({"get", job["id"].get<std::string>()});
  EXPECT_NE(shown.out.find("run_at      " + job["run_at"].get<std::string>()), std::string::npos) << shown;
  auto waited = run({"wait", job["id"].get<std::string>(), "--json"});
  EXPECT_EQ(waited.code, 0) << waited;
  EXPECT_EQ(waited.json_out()["state"], "succeeded");
}

TEST_F(JobctlRetries, RunAtIsSentAsGivenAndTheServerJudgesIt) {
  auto ran = run({"submit", "echo", "--run-at", "2020-01-01T00:00:00Z", "--wait", "10s", "--json"});
  EXPECT_EQ(ran.code, 0) << ran;
  auto refused = run({"submit", "echo", "--run-at", "next tuesday"});
  EXPECT_EQ(refused.code, 3) << refused;
  EXPECT_NE(refused.err.find("run_at"), std::string::npos) << refused;
}

TEST_F(JobctlRetries, FlagMistakesAreUsageErrors) {
  EXPECT_EQ(run({"submit", "echo", "--max-attempts", "0"}).code, 2);
  EXPECT_EQ(run({"submit", "echo", "--max-attempts", "21"}).code, 2);
  EXPECT_EQ(run({"submit", "echo", "--retry-delay", "soon"}).code, 2);
  EXPECT_EQ(run({"submit", "echo", "--delay", "1s", "--run-at", "2020-01-01T00:00:00Z"}).code, 2);
}

TEST_F(JobctlRetries, WatchShowsEachAttemptAndTheWaitBeforeIt) {
  // Delayed, so that the stream is open before the first attempt starts.
  const auto submitted = submit(port(), {{"kind", "crash"},
                                         {"executor", "process"},
                                         {"delay_ms", 1000},  // time for jobctl to start
                                         {"max_attempts", 2},
                                         {"retry_delay_ms", 50}});
  ASSERT_EQ(submitted.status, 202) << submitted.body;
  auto watched = jobctl(port(), {"watch", submitted.json()["id"].get<std::string>()});
  EXPECT_EQ(watched.code, 1) << watched;  // the job failed, after two attempts
  const auto lines = watched.out_lines();
  ASSERT_EQ(lines.size(), 5u) << watched;
  EXPECT_TRUE(lines[0].starts_with("state     queued  attempt 1/2  run_at ")) << watched;
  EXPECT_EQ(lines[1], "state     running  attempt 1/2") << watched;
  EXPECT_TRUE(lines[2].starts_with("state     queued  attempt 2/2  run_at ")) << watched;
  EXPECT_EQ(lines[3], "state     running  attempt 2/2") << watched;
  EXPECT_TRUE(lines[4].starts_with("state     failed  attempt 2/2  crashed: ")) << watched;
}
