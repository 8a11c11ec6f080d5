// SIGTERM with clients still sending: every request that reached jobd gets an answer, every
// answer given during the drain says `Connection: close`, and jobd exits within the drain
// timeout plus the kill grace even when a thread job never looks at its stop token.
#include <gtest/gtest.h>
#include <signal.h>

#include <future>
#include <thread>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(Drain, AThreadJobIgnoringItsStopTokenDoesNotHoldTheExitPastDrainTimeoutAndKillGrace) {
  JobdProcess server({"--test-kinds", "--drain-timeout", "1s", "--kill-grace", "1s", "--workers", "0"});
  const auto id =
      submit(server.port(), {{"kind", "spin"}, {"executor", "thread"}, {"params", {{"ms", 8000}}}})
          .json()["id"]
          .get<std::string>();
  ASSERT_TRUE(eventually([&] { return get(server.port(), "/v1/jobs/" + id).json()["state"] == "running"; }));
  std::future<HttpResult> waiting =
      std::async(std::launch::async, [&] { return get(server.port(), "/v1/jobs/" + id + "?wait=20"); });
  std::this_thread::sleep_for(100ms);
  const auto start = Clock::now();
  ::kill(server.pid(), SIGTERM);
  const HttpResult finished = waiting.get();
  EXPECT_EQ(finished.status, 200);
  EXPECT_EQ(finished.json()["state"], "cancelled");
  EXPECT_EQ(server.stop(0, 15s), 0);
  const auto took = Clock::now() - start;
  // 1 s of drain, 1 s of grace for the thread, and room for a loaded machine.
  EXPECT_LT(took, 3500ms) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  EXPECT_NE(server.log().find("stop token"), std::string::npos) << "the log says why it did not wait";
}
