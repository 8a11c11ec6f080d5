// The limits whose flags no other test sets: each flag, set low, bounds what it says it bounds
// (README "Limits" lists every limit with its flag, default and test).
#include <gtest/gtest.h>

#include <fstream>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {
std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }
}  // namespace

TEST(Limits, MaxJsonDepthRefusesDeeperBodies) {
  JobdProcess server({"--max-json-depth", "4"});
  const Headers json_type = {{"Content-Type", "application/json"}};
  // {"kind":"echo","params":{"a":[[x]]}} is 4 levels deep; one more is refused.
  auto within = http_request(server.port(), "POST", "/v1/jobs?wait=5",
                             R"({"kind":"echo","params":{"a":)" + nested(2) + "}}", json_type);
  EXPECT_EQ(within.status, 200) << within.body;
  auto deeper = http_request(server.port(), "POST", "/v1/jobs",
                             R"({"kind":"echo","params":{"a":)" + nested(3) + "}}", json_type);
  EXPECT_EQ(deeper.status, 400);
  EXPECT_EQ(deeper.json()["type"], "/problems/bad-json");
  EXPECT_NE(deeper.json()["detail"].get<std::string>().find("4"), std::string::npos) << deeper.body;
}

TEST(Limits, MaxWaitRefusesLongerWaits) {
  JobdProcess server({"--max-wait", "2s"});
  auto accepted = submit(server.port(), {{"kind", "echo"}}, "?wait=2");
  EXPECT_EQ(accepted.status, 200);
  auto refused = submit(server.port(), {{"kind", "echo"}}, "?wait=3");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.json()["type"], "/problems/invalid-query");
  const auto id = accepted.json()["id"].get<std::string>();
  EXPECT_EQ(get(server.port(), "/v1/jobs/" + id + "?wait=3").status, 400);
}

TEST(Limits, MaxListLimitBoundsAPage) {
  JobdProcess server({"--max-list-limit", "3"});
  for (int i = 0; i < 5; ++i) ASSERT_EQ(submit(server.port(), {{"kind", "echo"}}, "?wait=5").status, 200);
  auto page = get(server.port(), "/v1/jobs?limit=3");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.json()["jobs"].size(), 3u);
  auto refused = get(server.port(), "/v1/jobs?limit=4");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.json()["type"], "/problems/invalid-query");
}

TEST(Limits, EventHistoryKeepsTheNewestEventsAndReportsTheGap) {
  JobdProcess server({"--test-kinds", "--event-history", "4"});
  // Progress is recorded only while someone watches: watch the whole job, then replay.
  auto accepted =
      submit(server.port(), {{"kind", "chatter"}, {"params", {{"events", 50}, {"delay_ms", 500}}}});
  ASSERT_EQ(accepted.status, 202);
  const auto id = accepted.json()["id"].get<std::string>();
  RawConnection live(server.port());
  live.send(open_stream_request("/v1/jobs/" + id + "/events"));
  const auto watched = parse_sse(live.read_all(15s));
  ASSERT_FALSE(watched.empty());
  EXPECT_EQ(watched.back().data["state"], "succeeded");
  const auto last_id = std::stoul(watched.back().id);
  EXPECT_GT(last_id, 8u);  // far more events than the history holds
  // A late reader from the start gets the gap counted, then exactly the 4 newest events.
  RawConnection replay(server.port());
  replay.send(open_stream_request("/v1/jobs/" + id + "/events", "0"));
  const auto replayed = parse_sse(replay.read_all(5s));
  ASSERT_EQ(replayed.size(), 5u);
  EXPECT_EQ(replayed[0].type, "dropped");
  EXPECT_EQ(replayed[0].data["count"], last_id - 4);
  EXPECT_EQ(replayed[1].id, std::to_string(last_id - 3));
  EXPECT_EQ(replayed.back().id, std::to_string(last_id));
}

TEST(Limits, SseHeartbeatKeepsAnIdleStreamAlive) {
  JobdProcess server({"--sse-heartbeat", "200ms"});
  RawConnection stream(server.port());
  stream.send(open_stream_request("/v1/events"));
  const std::string seen = stream.read_all(900ms);
  EXPECT_NE(seen.find("200 OK"), std::string::npos) << seen;
  std::size_t beats = 0;
  for (auto at = seen.find(": keep-alive"); at != std::string::npos; at = seen.find(": keep-alive", at + 1))
    ++beats;
  EXPECT_GE(beats, 2u) << seen;
  EXPECT_LE(beats, 6u) << seen;
}

TEST(Limits, WorkerFilesIsTheOpenFileLimitOfWorkers) {
  JobdProcess server({"--workers", "1", "--worker-files", "37", "--test-kinds"});
  auto job =
      submit(server.port(), {{"kind", "spin"}, {"executor", "process"}, {"params", {{"ms", 1}}}}, "?wait=10");
  ASSERT_EQ(job.status, 200) << job.body;
  const auto worker = job.json()["worker_pid"].get<pid_t>();
  std::ifstream limits("/proc/" + std::to_string(worker) + "/limits");
  std::string line;
  bool found = false;
  while (std::getline(limits, line)) {
    if (!line.starts_with("Max open files")) continue;
    found = true;
    EXPECT_NE(line.find(" 37 "), std::string::npos) << line;
  }
  EXPECT_TRUE(found) << "no limits of worker " << worker;
}
