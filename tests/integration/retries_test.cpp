// Retries and delayed jobs against the real jobd: a crashing process job tried three times with
// growing gaps, failures that are final, timeouts retried, delayed jobs queued with run_at until
// due, cancel while delayed, and the 400s of bad specs. Delays are short (50-300 ms).
#include <gtest/gtest.h>

#include <csignal>
#include <ctime>
#include <thread>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// A job run to its end through POST ?wait=; the finished record.
json run(std::uint16_t port, const json& body) {
  auto response = submit(port, body, "?wait=20");
  EXPECT_EQ(response.status, 200) << response.body;
  return response.status == 200 ? response.json() : json::object();
}

// Milliseconds since the epoch of a record's time (2026-11-28T10:00:00.123Z).
std::int64_t ms_of(const json& time) {
  std::tm parts{};
  int millis = 0;
  const std::string text = time.get<std::string>();
  EXPECT_EQ(std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &parts.tm_year, &parts.tm_mon, &parts.tm_mday,
                        &parts.tm_hour, &parts.tm_min, &parts.tm_sec, &millis),
            7)
      << text;
  parts.tm_year -= 1900;
  parts.tm_mon -= 1;
  return static_cast<std::int64_t>(::timegm(&parts)) * 1000 + millis;
}

class Retries : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new JobdProcess({"--test-kinds", "--workers", "1"}); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  std::uint16_t port() const { return server_->port(); }
  static JobdProcess* server_;
};
JobdProcess* Retries::server_ = nullptr;

}  // namespace

TEST_F(Retries, ACrashingProcessJobIsTriedThreeTimesWithGrowingGaps) {
  constexpr std::int64_t kBase = 150;
  const auto job = run(
      port(), {{"kind", "crash"}, {"executor", "process"}, {"max_attempts", 3}, {"retry_delay_ms", kBase}});
  EXPECT_EQ(job["state"], "failed") << job;
  EXPECT_EQ(job["error"]["type"], "crashed");
  EXPECT_EQ(job["attempt"], 3);
  EXPECT_EQ(job["max_attempts"], 3);
  EXPECT_FALSE(job.contains("run_at"));
  ASSERT_EQ(job["attempts"].size(), 2u) << job;
  for (const auto& attempt : job["attempts"]) {
    EXPECT_EQ(attempt["type"], "crashed");
    EXPECT_NE(attempt["message"], "");
  }
  // The wait after attempt n is drawn from [base * 2^(n-1) / 2, base * 2^(n-1)] (equal jitter).
  const auto& attempts = job["attempts"];
  const auto first_wait = ms_of(attempts[1]["started_at"]) - ms_of(attempts[0]["finished_at"]);
  const auto second_wait = ms_of(job["started_at"]) - ms_of(attempts[1]["finished_at"]);
  EXPECT_GE(first_wait, kBase / 2);
  EXPECT_LE(first_wait, kBase + 300);  // slack: a loaded machine, a worker replaced
  EXPECT_GE(second_wait, kBase);
  EXPECT_LE(second_wait, 2 * kBase + 300);
  EXPECT_GE(ms_of(attempts[1]["started_at"]) - ms_of(attempts[0]["started_at"]), kBase / 2);
  EXPECT_GE(ms_of(job["started_at"]) - ms_of(attempts[1]["started_at"]), kBase);
  const auto metrics = get(port(), "/metrics").body;
  EXPECT_GE(metric_value(metrics, R"(jobd_job_retries_total{kind="crash",executor="process"})"), 2);
}

TEST_F(Retries, AKindsOwnFailureIsNotRetried) {
  const auto job =
      run(port(), {{"kind", "fail"}, {"executor", "thread"}, {"max_attempts", 3}, {"retry_delay_ms", 10}});
  EXPECT_EQ(job["state"], "failed");
  EXPECT_EQ(job["error"]["type"], "kind-failed");
  EXPECT_EQ(job["attempt"], 1);
  EXPECT_FALSE(job.contains("attempts"));
}

TEST_F(Retries, AFailureTheKindMarksRetryableIsRetriedFromAWorkerProcess) {
  const auto job = run(port(), {{"kind", "fail"},
                                {"executor", "process"},
                                {"params", {{"retryable", true}, {"message", "flaky"}}},
                                {"max_attempts", 2},
                                {"retry_delay_ms", 10}});
  EXPECT_EQ(job["state"], "failed");
  EXPECT_EQ(job["attempt"], 2);
  ASSERT_EQ(job["attempts"].size(), 1u) << job;
  EXPECT_EQ(job["attempts"][0]["type"], "kind-failed");
  EXPECT_EQ(job["attempts"][0]["message"], "flaky");
}

TEST_F(Retries, ATimedOutAttemptIsRetriedWithItsOwnDeadline) {
  const auto job = run(port(), {{"kind", "sleep"},
                                {"params", {{"ms", 5000}}},
                                {"timeout_ms", 100},
                                {"max_attempts", 2},
                                {"retry_delay_ms", 10}});
  EXPECT_EQ(job["state"], "timed_out");
  EXPECT_EQ(job["attempt"], 2);
  ASSERT_EQ(job["attempts"].size(), 1u) << job;
  EXPECT_EQ(job["attempts"][0]["type"], "timed-out");
  // The second attempt ran for its whole timeout, not what the first left of it.
  EXPECT_GE(ms_of(job["finished_at"]) - ms_of(job["started_at"]), 90);
}

TEST(RetriesOnThreads, TheLateResultOfATimedOutAttemptNeverLandsOnTheNext) {
  // `spin` ignores its stop token: attempt 1 times out at 600 ms but its thread runs on and
  // succeeds at 1,000 ms, while attempt 2 runs on the other thread. That success belongs to an
  // attempt that is over: the job must end as attempt 2 ends (timed out at ~1,210 ms, its own
  // spin ending at ~1,610: margins wide enough for a loaded loop), not succeed.
  JobdProcess server({"--test-kinds", "--threads", "2"});
  const auto job = run(server.port(), {{"kind", "spin"},
                                       {"executor", "thread"},
                                       {"params", {{"ms", 1000}}},
                                       {"timeout_ms", 600},
                                       {"max_attempts", 2},
                                       {"retry_delay_ms", 10}});
  EXPECT_EQ(job["state"], "timed_out") << job;
  EXPECT_EQ(job["attempt"], 2);
  EXPECT_FALSE(job.contains("result"));
}

TEST_F(Retries, ADelayedJobIsQueuedWithRunAtUntilDueThenRuns) {
  const auto submitted = submit(port(), {{"kind", "echo"}, {"params", {{"x", 1}}}, {"delay_ms", 300}});
  ASSERT_EQ(submitted.status, 202) << submitted.body;
  const auto queued = submitted.json();
  EXPECT_EQ(queued["state"], "queued");
  ASSERT_TRUE(queued.contains("run_at"));
  EXPECT_GE(ms_of(queued["run_at"]) - ms_of(queued["created_at"]), 300);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(get(port(), "/v1/jobs/" + queued["id"].get<std::string>()).json()["state"], "queued");
  const auto done = get(port(), "/v1/jobs/" + queued["id"].get<std::string>() + "?wait=5").json();
  EXPECT_EQ(done["state"], "succeeded") << done;
  EXPECT_EQ(done["result"], json({{"x", 1}}));
  EXPECT_GE(ms_of(done["started_at"]), ms_of(queued["run_at"]));
  EXPECT_FALSE(done.contains("run_at"));
}

TEST_F(Retries, ACancelledDelayedJobNeverRuns) {
  const auto submitted = submit(port(), {{"kind", "echo"}, {"delay_ms", 200}});
  ASSERT_EQ(submitted.status, 202);
  const std::string id = submitted.json()["id"];
  const auto cancelled = http_request(port(), "DELETE", "/v1/jobs/" + id);
  EXPECT_EQ(cancelled.json()["state"], "cancelled") << cancelled.body;
  std::this_thread::sleep_for(350ms);
  const auto job = get(port(), "/v1/jobs/" + id).json();
  EXPECT_EQ(job["state"], "cancelled");
  EXPECT_FALSE(job.contains("started_at"));
  EXPECT_FALSE(job.contains("result"));
}

TEST_F(Retries, ARunAtInThePastRunsNow) {
  const auto job = run(port(), {{"kind", "echo"}, {"run_at", "2020-01-01T00:00:00Z"}});
  EXPECT_EQ(job["state"], "succeeded");
}

TEST_F(Retries, BadAttemptAndDelayFieldsAre400WithTheirPointer) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"max_attempts", 0}}, "/max_attempts"},
      {{{"max_attempts", 21}}, "/max_attempts"},
      {{{"retry_delay_ms", 1}}, "/retry_delay_ms"},
      {{{"delay_ms", -1}}, "/delay_ms"},
      {{{"delay_ms", 40LL * 24 * 3600 * 1000}}, "/delay_ms"},
      {{{"run_at", "soon"}}, "/run_at"},
      {{{"run_at", "2999-01-01T00:00:00Z"}}, "/run_at"},
      {{{"run_at", "2026-01-01T00:00:00Z"}, {"delay_ms", 5}}, "/run_at"},
  };
  for (const auto& [fields, pointer] : cases) {
    json body = fields;
    body["kind"] = "echo";
    const auto response = submit(port(), body);
    EXPECT_EQ(response.status, 400) << body;
    EXPECT_EQ(response.json()["type"], "/problems/invalid-request") << body;
    EXPECT_EQ(response.json()["pointer"], pointer) << body;
  }
}

TEST(RetryLimits, DelayedJobsBeyondMaxWaitingJobsAre429) {
  JobdProcess server({"--max-waiting-jobs", "2"});
  const json delayed = {{"kind", "echo"}, {"delay_ms", 60'000}};
  const auto first = submit(server.port(), delayed);
  ASSERT_EQ(first.status, 202) << first.body;
  ASSERT_EQ(submit(server.port(), delayed).status, 202);
  EXPECT_EQ(metric_value(get(server.port(), "/metrics").body, "jobd_jobs_waiting"), 2);
  const auto refused = submit(server.port(), delayed);
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(refused.json()["type"], "/problems/queue-full");
  EXPECT_FALSE(refused.header("retry-after").empty());
  // Jobs that run at once are not held, so not refused; a cancelled waiting job frees its place.
  EXPECT_EQ(submit(server.port(), {{"kind", "echo"}}).status, 202);
  http_request(server.port(), "DELETE", "/v1/jobs/" + first.json()["id"].get<std::string>());
  EXPECT_EQ(submit(server.port(), delayed).status, 202);
}

TEST(RetryLimits, RetryMaxDelayCapsTheBackoff) {
  JobdProcess server({"--test-kinds", "--workers", "1", "--retry-max-delay", "50ms"});
  const auto started = std::chrono::steady_clock::now();
  // A base of an hour, capped to 50 ms.
  const auto job =
      run(server.port(),
          {{"kind", "crash"}, {"executor", "process"}, {"max_attempts", 2}, {"retry_delay_ms", 3'600'000}});
  EXPECT_EQ(job["attempt"], 2) << job;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  const auto wait = ms_of(job["started_at"]) - ms_of(job["attempts"][0]["finished_at"]);
  EXPECT_GE(wait, 25);
  EXPECT_LE(wait, 50 + 300);
}

TEST(RetryLimits, ADrainNeitherWaitsForNorRunsWaitingJobs) {
  JobdProcess server({"--drain-timeout", "20s"});
  ASSERT_EQ(submit(server.port(), {{"kind", "echo"}, {"delay_ms", 60'000}}).status, 202);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(SIGTERM, 10s), 0) << server.log();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}
