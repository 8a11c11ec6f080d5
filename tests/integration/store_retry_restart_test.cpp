// Retries and delayed jobs across a kill -9 (the SQLite store under a real jobd): a job running
// when jobd dies comes back as an interrupted attempt and is retried while it has attempts left;
// a delayed job keeps its run_at and runs when it is due, not before, and not never.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "harness.hpp"
#include "store_support.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::vector<std::string> args_for(const StoreDir& dir) {
  return {"--test-kinds", "--store", dir.uri(), "--workers", "0"};
}

}  // namespace

TEST(StoreRetryRestart, AJobRunningWhenJobdIsKilledIsRetriedAfterTheRestartWhileItHasAttemptsLeft) {
  StoreDir dir;
  std::string retried, single;
  {
    JobdProcess server(args_for(dir));
    const json twice = {
        {"kind", "sleep"}, {"params", {{"ms", 800}}}, {"max_attempts", 2}, {"retry_delay_ms", 100}};
    const auto first = submit(server.port(), twice);
    ASSERT_EQ(first.status, 202) << first.body;
    retried = first.json()["id"];
    const auto once = submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 800}}}});
    ASSERT_EQ(once.status, 202) << once.body;
    single = once.json()["id"];
    ASSERT_TRUE(eventually([&] {
      return get(server.port(), "/v1/jobs/" + retried).json()["state"] == "running" &&
             get(server.port(), "/v1/jobs/" + single).json()["state"] == "running";
    }));
    EXPECT_EQ(server.stop(SIGKILL, 5s), 128 + SIGKILL);
  }
  JobdProcess server(args_for(dir));
  EXPECT_NE(server.log().find("interrupted 1, retried 1"), std::string::npos) << server.log();
  // Attempts left: the interrupted attempt is recorded and the next one runs to the end.
  const auto again = get(server.port(), "/v1/jobs/" + retried + "?wait=10").json();
  EXPECT_EQ(again["state"], "succeeded") << again.dump();
  EXPECT_EQ(again["attempt"], 2) << again.dump();
  ASSERT_EQ(again["attempts"].size(), 1u) << again.dump();
  EXPECT_EQ(again["attempts"][0]["type"], "interrupted") << again.dump();
  // None left: the job fails, naming the interruption.
  const auto failed = get(server.port(), "/v1/jobs/" + single).json();
  EXPECT_EQ(failed["state"], "failed") << failed.dump();
  EXPECT_EQ(failed["error"]["type"], "interrupted") << failed.dump();
  EXPECT_EQ(failed["attempt"], 1) << failed.dump();
}

TEST(StoreRetryRestart, ADelayedJobKeepsItsRunAtAcrossAKillAndRunsWhenDue) {
  StoreDir dir;
  std::string id, run_at;
  {
    JobdProcess server(args_for(dir));
    const auto delayed =
        submit(server.port(), {{"kind", "echo"}, {"params", {{"a", 1}}}, {"delay_ms", 1500}});
    ASSERT_EQ(delayed.status, 202) << delayed.body;
    id = delayed.json()["id"];
    run_at = delayed.json()["run_at"];
    EXPECT_EQ(server.stop(SIGKILL, 5s), 128 + SIGKILL);
  }
  JobdProcess server(args_for(dir));
  const auto waiting = get(server.port(), "/v1/jobs/" + id).json();
  EXPECT_EQ(waiting["state"], "queued") << waiting.dump();
  EXPECT_EQ(waiting["run_at"], run_at) << "the time it waits for is the one it was given";
  const auto done = get(server.port(), "/v1/jobs/" + id + "?wait=10").json();
  EXPECT_EQ(done["state"], "succeeded") << done.dump();
  // RFC 3339 UTC with milliseconds compares as text.
  EXPECT_GE(done["started_at"].get<std::string>(), run_at) << done.dump();
  EXPECT_FALSE(done.contains("run_at")) << done.dump();
}
