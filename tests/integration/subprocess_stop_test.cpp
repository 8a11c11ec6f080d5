// Stopping subprocess jobs through the real jobd: SIGTERM then SIGKILL after the grace on
// cancel and deadline, the whole process group with the job, processes left behind, the queue
// beyond --max-subprocesses and its 429, 200 concurrent jobs leaving no zombie, and children
// at jobd's shutdown and death.
#include <gtest/gtest.h>

#include <signal.h>

#include <future>
#include <thread>

#include "subprocess_fixture.hpp"

using namespace jobd::testing;
using namespace jobd::testing::subprocess;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

TEST(Subprocess, AChildIgnoringSigtermIsKilledAfterTheGrace) {
  Fixture f({"--kill-grace", "500ms"});
  const auto id = submit_id(f.port(), "stubborn");
  ASSERT_TRUE(eventually([&] { return fs::exists(f.ws.path("stubborn.ready")); }));
  // The child can write its file before the loop has taken the spawner's start notice.
  ASSERT_TRUE(eventually([&] { return get(f.port(), "/v1/jobs/" + id).json()["state"] == "running"; }));
  const auto start = Clock::now();
  auto cancel = http_request(f.port(), "DELETE", "/v1/jobs/" + id);
  EXPECT_EQ(cancel.status, 202);  // accepted: the job ends when its process group is gone
  EXPECT_EQ(cancel.json()["state"], "running");
  auto job = wait_final(f.port(), id);
  const auto took = Clock::now() - start;
  EXPECT_EQ(job["state"], "cancelled");
  EXPECT_EQ(job["signal"], "SIGKILL");  // SIGTERM was ignored
  EXPECT_EQ(job["stdout"], "ready\n");  // output captured before the kill is kept
  EXPECT_GE(took, 450ms);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(eventually([&] { return stray_children(f.server.pid()).empty(); }));
}

TEST(Subprocess, AGrandchildDiesWithACancelledJob) {
  Fixture f;
  const auto id = submit_id(f.port(), "forker");
  const pid_t grandchild = read_pid(f.ws.path("grandchild.pid"));
  ASSERT_GT(grandchild, 0);
  ASSERT_TRUE(alive(grandchild));
  EXPECT_EQ(http_request(f.port(), "DELETE", "/v1/jobs/" + id).status, 202);
  auto job = wait_final(f.port(), id);
  EXPECT_EQ(job["state"], "cancelled");
  EXPECT_EQ(job["signal"], "SIGTERM");
  EXPECT_TRUE(eventually([&] { return !alive(grandchild); }, 3s))
      << "grandchild " << grandchild << " survived";
  EXPECT_TRUE(eventually([&] { return stray_children(f.server.pid()).empty(); }));
}

TEST(Subprocess, ProcessesLeftBehindDieWhenTheJobEnds) {
  Fixture f;
  const auto start = Clock::now();
  auto job = run(f.port(), "leaver");
  // The background `sleep 60` holds stdout open; the job still ends at once, and so does it.
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_EQ(job["stdout"], "bye\n");
  EXPECT_LT(Clock::now() - start, 2s);
  const pid_t leftover = read_pid(f.ws.path("leftover.pid"));
  EXPECT_TRUE(eventually([&] { return !alive(leftover); }, 3s));
}

TEST(Subprocess, TheDeadlineStopsTheGroupAndKeepsTheOutput) {
  Fixture f;
  auto job = run(f.port(), "slow", json::object(), {{"timeout_ms", 300}});
  EXPECT_EQ(job["state"], "timed_out");
  EXPECT_EQ(job["error"]["type"], "timed-out");
  EXPECT_EQ(job["stdout"], "started\n");
  EXPECT_EQ(job["signal"], "SIGTERM");
  // The command's own run-time limit (timeout_ms in the config) too.
  auto limited = run(f.port(), "runlimit");
  EXPECT_EQ(limited["state"], "timed_out");
  EXPECT_NE(limited["error"]["message"].get<std::string>().find("timeout_ms"), std::string::npos);
  EXPECT_EQ(limited["stdout"], "started\n");
}

TEST(Subprocess, TwoHundredConcurrentShortJobsAllSucceedAndLeaveNoZombies) {
  Fixture f;
  std::vector<std::future<json>> jobs;
  jobs.reserve(200);
  for (int i = 0; i < 200; ++i) {
    jobs.push_back(std::async(std::launch::async, [&f, i] {
      return run(f.port(), "wc", {{"bytes", true}, {"input", std::string(static_cast<std::size_t>(i), 'x')}});
    }));
  }
  int succeeded = 0;
  for (int i = 0; i < 200; ++i) {
    const json job = jobs[static_cast<std::size_t>(i)].get();
    std::string expected = std::to_string(i);
    expected.push_back('\n');
    if (job.value("state", "") == "succeeded" && job.value("stdout", "") == expected) {
      ++succeeded;
    } else {
      ADD_FAILURE() << "job " << i << ": " << job.dump();
    }
  }
  EXPECT_EQ(succeeded, 200);
  EXPECT_TRUE(eventually([&] { return stray_children(f.server.pid()).empty(); }))
      << stray_children(f.server.pid()).size() << " stray children";
  EXPECT_EQ(f.server.stop(), 0);
}

TEST(Subprocess, BeyondMaxSubprocessesJobsQueueAndAFullQueueAnswers429) {
  Fixture f({"--max-subprocesses", "1", "--queue-depth", "1"});
  const auto running = submit_id(f.port(), "sleeper", {{"seconds", 60}});
  const auto queued = submit_id(f.port(), "sleeper", {{"seconds", 60}});
  EXPECT_TRUE(eventually([&] { return get(f.port(), "/v1/jobs/" + running).json()["state"] == "running"; }));
  EXPECT_EQ(get(f.port(), "/v1/jobs/" + queued).json()["state"], "queued");
  auto refused = submit(f.port(), {{"kind", "sleeper"}, {"params", {{"seconds", 1}}}});
  EXPECT_EQ(refused.status, 429);
  EXPECT_FALSE(refused.header("retry-after").empty());
  // A queued job is cancelled at once and never runs; then the running one.
  auto cancelled = http_request(f.port(), "DELETE", "/v1/jobs/" + queued);
  EXPECT_EQ(cancelled.status, 200);
  EXPECT_EQ(cancelled.json()["state"], "cancelled");
  EXPECT_FALSE(cancelled.json().contains("pid"));
  EXPECT_EQ(http_request(f.port(), "DELETE", "/v1/jobs/" + running).status, 202);
  EXPECT_EQ(wait_final(f.port(), running)["state"], "cancelled");
  // The slot is free again.
  EXPECT_EQ(run(f.port(), "sleeper", {{"seconds", 0}})["state"], "succeeded");
}

TEST(Subprocess, ShutdownStopsRunningChildren) {
  Fixture f({"--drain-timeout", "200ms", "--kill-grace", "200ms"});
  const auto id = submit_id(f.port(), "forker");
  const pid_t grandchild = read_pid(f.ws.path("grandchild.pid"));
  ASSERT_GT(grandchild, 0);
  EXPECT_EQ(f.server.stop(SIGTERM, 10s), 0);
  EXPECT_TRUE(eventually([&] { return !alive(grandchild); }, 3s));
}

TEST(Subprocess, ChildrenDieWhenJobdIsKilled) {
  Fixture f;
  const auto id = submit_id(f.port(), "sleeper", {{"seconds", 60}});
  pid_t child = 0;
  ASSERT_TRUE(eventually([&] {
    const json job = get(f.port(), "/v1/jobs/" + id).json();
    child = job.value("pid", 0);
    return child > 0;
  }));
  EXPECT_EQ(f.server.stop(SIGKILL, 5s), 128 + SIGKILL);
  EXPECT_TRUE(eventually([&] { return !alive(child); }, 3s)) << "child " << child << " outlived jobd";
}
