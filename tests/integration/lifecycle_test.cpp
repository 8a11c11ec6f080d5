// Job lifecycle against a real jobd: long-poll wake-up, cancel, timeouts, queue limits,
// retention, and graceful shutdown.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <future>
#include <thread>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {
std::string submit_id(std::uint16_t port, const json& body) {
  auto response = submit(port, body);
  EXPECT_EQ(response.status, 202) << response.body;
  return response.status == 202 ? response.json()["id"].get<std::string>() : "";
}
}  // namespace

TEST(Lifecycle, LongPollWakesWhenTheJobFinishesNotAtTheEndOfTheWait) {
  JobdProcess server;
  const auto id = submit_id(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 300}}}});
  const auto start = Clock::now();
  auto done = get(server.port(), "/v1/jobs/" + id + "?wait=30");
  const auto waited = Clock::now() - start;
  ASSERT_EQ(done.status, 200);
  EXPECT_EQ(done.json()["state"], "succeeded");
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 300ms + 50ms);  // within 50 ms of completion
}

TEST(Lifecycle, LongPollOnAThreadJobWakesPromptly) {
  JobdProcess server({"--test-kinds"});
  const auto start = Clock::now();
  auto done = submit(server.port(), {{"kind", "spin"}, {"params", {{"ms", 200}}}}, "?wait=30");
  const auto waited = Clock::now() - start;
  ASSERT_EQ(done.status, 200);
  EXPECT_EQ(done.json()["state"], "succeeded");
  EXPECT_LT(waited, 200ms + 50ms);
}

TEST(Lifecycle, WaitThatRunsOutAnswers202WithTheRunningJob) {
  JobdProcess server;
  auto pending = submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 2000}}}}, "?wait=0.2");
  EXPECT_EQ(pending.status, 202);
  EXPECT_EQ(pending.json()["state"], "running");
}

TEST(Lifecycle, CancelStopsARunningLoopJob) {
  JobdProcess server;
  const auto id = submit_id(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 60000}}}});
  auto cancelled = http_request(server.port(), "DELETE", "/v1/jobs/" + id);
  ASSERT_EQ(cancelled.status, 200);
  EXPECT_EQ(cancelled.json()["state"], "cancelled");
  EXPECT_EQ(cancelled.json()["error"]["type"], "cancelled");
  EXPECT_EQ(get(server.port(), "/v1/jobs/" + id).json()["state"], "cancelled");
}

TEST(Lifecycle, CancelledQueuedThreadJobNeverRuns) {
  JobdProcess server({"--test-kinds", "--threads", "1"});
  const auto busy = submit_id(server.port(), {{"kind", "spin"}, {"params", {{"ms", 500}}}});
  const auto queued = submit_id(server.port(), {{"kind", "primes"}, {"params", {{"n", 100}}}});
  EXPECT_EQ(get(server.port(), "/v1/jobs/" + queued).json()["state"], "queued");
  auto cancelled = http_request(server.port(), "DELETE", "/v1/jobs/" + queued);
  EXPECT_EQ(cancelled.json()["state"], "cancelled");
  EXPECT_EQ(get(server.port(), "/v1/jobs/" + busy + "?wait=5").json()["state"], "succeeded");
  auto after = get(server.port(), "/v1/jobs/" + queued).json();
  EXPECT_EQ(after["state"], "cancelled");
  EXPECT_FALSE(after.contains("started_at"));  // it never started
  EXPECT_FALSE(after.contains("result"));
}

TEST(Lifecycle, CancelOfARunningThreadJobIsCooperative) {
  JobdProcess server({"--threads", "1"});
  const auto id = submit_id(server.port(), {{"kind", "primes"}, {"params", {{"n", 1000000000}}}});
  ASSERT_TRUE(eventually([&] { return get(server.port(), "/v1/jobs/" + id).json()["state"] == "running"; }));
  EXPECT_EQ(http_request(server.port(), "DELETE", "/v1/jobs/" + id).json()["state"], "cancelled");
  // The pool thread notices its stop token and is free again soon: the next job runs.
  auto next = submit(server.port(), {{"kind", "primes"}, {"params", {{"n", 10}}}}, "?wait=5");
  EXPECT_EQ(next.json()["state"], "succeeded");
}

TEST(Lifecycle, LoopJobPastItsTimeoutIsTimedOut) {
  JobdProcess server;
  const auto start = Clock::now();
  auto done =
      submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 5000}}}, {"timeout_ms", 200}}, "?wait=10");
  EXPECT_LT(Clock::now() - start, 200ms + 200ms);
  ASSERT_EQ(done.status, 200);
  EXPECT_EQ(done.json()["state"], "timed_out");
  EXPECT_EQ(done.json()["error"]["type"], "timed-out");
}

TEST(Lifecycle, ThreadJobPastItsTimeoutIsReportedAtTheDeadline) {
  JobdProcess server({"--test-kinds", "--threads", "1"});
  const auto start = Clock::now();
  // spin ignores its stop token: the job is reported timed out at the deadline anyway.
  auto done =
      submit(server.port(), {{"kind", "spin"}, {"params", {{"ms", 1500}}}, {"timeout_ms", 200}}, "?wait=10");
  EXPECT_LT(Clock::now() - start, 200ms + 200ms);
  EXPECT_EQ(done.json()["state"], "timed_out");
}

TEST(Lifecycle, DefaultAndMaximumTimeoutsComeFromFlags) {
  JobdProcess server({"--default-timeout", "150ms", "--max-timeout", "10s"});
  auto defaulted = submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 3000}}}}, "?wait=5");
  EXPECT_EQ(defaulted.json()["state"], "timed_out");
  EXPECT_EQ(defaulted.json()["timeout_ms"], 150);
  auto too_long = submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 1}}}, {"timeout_ms", 10001}});
  EXPECT_EQ(too_long.status, 400);
  EXPECT_EQ(too_long.json()["pointer"], "/timeout_ms");
}

TEST(Lifecycle, FullThreadQueueAnswers429WithRetryAfterAndCreatesNoJob) {
  JobdProcess server({"--test-kinds", "--threads", "1", "--queue-depth", "2"});
  submit_id(server.port(), {{"kind", "spin"}, {"params", {{"ms", 1000}}}});
  ASSERT_TRUE(
      eventually([&] { return get(server.port(), "/v1/jobs?state=running").json()["jobs"].size() == 1; }));
  submit_id(server.port(), {{"kind", "spin"}, {"params", {{"ms", 1}}}});
  submit_id(server.port(), {{"kind", "spin"}, {"params", {{"ms", 1}}}});
  auto refused = submit(server.port(), {{"kind", "spin"}, {"params", {{"ms", 1}}}});
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.json()["type"], "/problems/queue-full");
  EXPECT_EQ(refused.header("retry-after"), "1");
  EXPECT_EQ(get(server.port(), "/v1/jobs?kind=spin").json()["jobs"].size(), 3u);
  // The loop executor has its own limit and is unaffected.
  EXPECT_EQ(submit(server.port(), {{"kind", "echo"}}, "?wait=5").status, 200);
}

TEST(Lifecycle, LoopJobsBeyondTheirLimitAre429) {
  JobdProcess server({"--loop-jobs", "2"});
  submit_id(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 2000}}}});
  submit_id(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 2000}}}});
  EXPECT_EQ(submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 1}}}}).status, 429);
}

TEST(Lifecycle, FinishedJobsAreEvictedAfterTheRetention) {
  JobdProcess server({"--retention", "300ms"});
  auto done = submit(server.port(), {{"kind", "echo"}}, "?wait=5");
  const std::string id = done.json()["id"];
  EXPECT_EQ(get(server.port(), "/v1/jobs/" + id).status, 200);
  EXPECT_TRUE(eventually([&] { return get(server.port(), "/v1/jobs/" + id).status == 404; }, 3s));
}

TEST(Lifecycle, OnlyMaxJobsFinishedJobsAreKept) {
  JobdProcess server({"--max-jobs", "3"});
  std::vector<std::string> ids;
  ids.reserve(5);
  for (int i = 0; i < 5; ++i)
    ids.push_back(submit(server.port(), {{"kind", "echo"}}, "?wait=5").json()["id"]);
  EXPECT_EQ(get(server.port(), "/v1/jobs/" + ids[0]).status, 404);
  EXPECT_EQ(get(server.port(), "/v1/jobs/" + ids[1]).status, 404);
  for (int i = 2; i < 5; ++i) EXPECT_EQ(get(server.port(), "/v1/jobs/" + ids[i]).status, 200);
}

TEST(Lifecycle, SigtermDrainsARunningJobThenExitsZero) {
  JobdProcess server;
  RawConnection keep_alive(server.port());
  std::future<HttpResult> waiting = std::async(std::launch::async, [&] {
    return submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 1000}}}}, "?wait=10");
  });
  ASSERT_TRUE(
      eventually([&] { return get(server.port(), "/v1/jobs?state=running").json()["jobs"].size() == 1; }));
  ::kill(server.pid(), SIGTERM);
  // While draining: not ready, and new jobs are refused with 503 + Retry-After. Every answer
  // closes the connection, so the two requests are sent at once (pipelined): both are answered.
  std::this_thread::sleep_for(100ms);
  const std::string body = R"({"kind":"echo"})";
  keep_alive.send(
      "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  auto answers = keep_alive.read_responses(2);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].status, 503);
  EXPECT_EQ(answers[0].header("connection"), "close");
  EXPECT_EQ(answers[1].status, 503);
  EXPECT_EQ(answers[1].json()["type"], "/problems/draining");
  EXPECT_EQ(answers[1].header("retry-after"), "1");

  auto finished = waiting.get();
  ASSERT_EQ(finished.status, 200);
  EXPECT_EQ(finished.json()["state"], "succeeded");
  EXPECT_EQ(server.stop(0, 10s), 0);  // signal 0: only wait for the exit
}

TEST(Lifecycle, DrainTimeoutCancelsWhatIsLeft) {
  JobdProcess server({"--drain-timeout", "300ms"});
  std::future<HttpResult> waiting = std::async(std::launch::async, [&] {
    return submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 60000}}}}, "?wait=30");
  });
  ASSERT_TRUE(
      eventually([&] { return get(server.port(), "/v1/jobs?state=running").json()["jobs"].size() == 1; }));
  const auto start = Clock::now();
  ::kill(server.pid(), SIGTERM);
  auto finished = waiting.get();
  EXPECT_EQ(finished.json()["state"], "cancelled");
  EXPECT_EQ(server.stop(0, 10s), 0);
  EXPECT_LT(Clock::now() - start, 3s);
}

TEST(Lifecycle, SecondSignalExitsAtOnce) {
  JobdProcess server;
  submit_id(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 60000}}}});
  ::kill(server.pid(), SIGTERM);
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(server.running());
  const auto start = Clock::now();
  const int status = server.stop(SIGINT, 5s);
  EXPECT_NE(status, 0);
  EXPECT_NE(status, -1);
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST(Lifecycle, BadFlagValuesStopJobdWithAOneLineError) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--idle-timeout", "soon"},
                                                                {"--max-body", "huge"},
                                                                {"--queue-depth", "0"},
                                                                {"--log-format", "xml"}}) {
    try {
      JobdProcess server(args);
      ADD_FAILURE() << "jobd started with " << args[0] << " " << args[1];
    } catch (const std::runtime_error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(args[0]), std::string::npos) << message;
    }
  }
}
