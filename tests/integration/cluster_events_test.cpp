// Event streams across replicas on one Redis (issue 14): GET /v1/jobs/{id}/events on a replica
// that does not run the job (live, resumed with Last-Event-ID, replayed after the end), and
// GET /v1/events showing another replica's jobs. Two jobd processes on a real redis-server.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <thread>

#include "cluster_fixture.hpp"
#include "subprocess_fixture.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// A subprocess kind `lines` that waits for the file `go`, then prints five lines (one on
// stderr) 20 ms apart and exits 0.
std::string lines_config(const subprocess::Workspace& ws) {
  const std::string script =
      ws.script("lines.sh", "while [ ! -e " + ws.path("go") +
                                " ]; do sleep 0.01; done\n"
                                "for i in 1 2 3 4; do echo line$i; sleep 0.02; done\necho oops >&2\n");
  return ws.write_config(
      json::array({{{"name", "lines"}, {"program", script}, {"max_stdout_bytes", 65536}}}));
}

void touch(const std::string& path) { std::ofstream(path) << "go"; }

// The events a stream sent until the server closed it (or `timeout`).
std::vector<SseEvent> read_stream(std::uint16_t port, const std::string& target,
                                  const std::string& last_id = "", std::chrono::milliseconds timeout = 15s) {
  RawConnection stream(port);
  EXPECT_TRUE(stream.send(open_stream_request(target, last_id)));
  return parse_sse(stream.read_all(timeout));
}

std::vector<std::string> types_of(const std::vector<SseEvent>& events) {
  std::vector<std::string> out;
  out.reserve(events.size());
  for (const auto& event : events) {
    out.push_back(event.type == "state" ? "state:" + event.data["state"].get<std::string>() : event.type);
  }
  return out;
}

const std::vector<std::string> kLinesEvents{"state:queued", "state:running", "stdout", "stdout",
                                            "stdout",       "stdout",        "stderr", "state:succeeded"};

}  // namespace

TEST(ClusterEvents, AJobRunningOnOneReplicaIsStreamedResumedAndReplayedOnAnother) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  subprocess::Workspace ws;
  const std::string config = lines_config(ws);
  auto a = replica(redis, "A", {"--config", config});
  const auto submitted = submit(a->port(), {{"kind", "lines"}, {"params", json::object()}});
  ASSERT_EQ(submitted.status, 202) << submitted.body;
  const std::string id = submitted.json()["id"];
  ASSERT_TRUE(eventually([&] { return state_on(a->port(), id) == "running"; }, 10s));
  auto b = replica(redis, "B", {"--config", config});  // started after A claimed it: A runs it

  // Live on B: opened while the job waits, then it prints.
  RawConnection live(b->port());
  ASSERT_TRUE(live.send(open_stream_request("/v1/jobs/" + id + "/events")));
  const std::string head = live.read_some(5s);
  EXPECT_NE(head.find("200"), std::string::npos) << head;
  touch(ws.path("go"));
  const auto events = parse_sse(head + live.read_all(15s));  // ends after the final event
  ASSERT_EQ(types_of(events), kLinesEvents) << head;
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].id, std::to_string(i + 1));
  EXPECT_EQ(events[2].data["line"], "line1");
  EXPECT_EQ(events[2].data["id"], id);
  EXPECT_EQ(events[6].data["line"], "oops");
  EXPECT_EQ(events[1].data["id"], id);
  EXPECT_EQ(events.back().data["state"], "succeeded");
  EXPECT_EQ(events.back().data["kind"], "lines");
  EXPECT_EQ(events.back().data["result"]["exit_code"], 0) << events.back().data.dump();

  // Resumed on B from a middle id: exactly the rest, same ids.
  const auto rest = read_stream(b->port(), "/v1/jobs/" + id + "/events", "4");
  ASSERT_EQ(rest.size(), 4u);
  EXPECT_EQ(rest.front().id, "5");
  EXPECT_EQ(rest.front().data["line"], "line3");
  EXPECT_EQ(types_of(rest), std::vector<std::string>(kLinesEvents.begin() + 4, kLinesEvents.end()));
  // ... and with ?last_event_id= on A, which ran it: the same stream.
  const auto on_a = read_stream(a->port(), "/v1/jobs/" + id + "/events?last_event_id=6");
  EXPECT_EQ(types_of(on_a), (std::vector<std::string>{"stderr", "state:succeeded"}));

  // Finished before the subscription: the whole stream, then the end.
  const auto replay = read_stream(b->port(), "/v1/jobs/" + id + "/events");
  EXPECT_EQ(types_of(replay), kLinesEvents);
  // Nothing after the last id: the stream just ends.
  EXPECT_TRUE(read_stream(b->port(), "/v1/jobs/" + id + "/events", "8").empty());
}

TEST(ClusterEvents, AnUnknownJobIs404AndABadLastEventIdIs400) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A");
  const auto missing = get(a->port(), "/v1/jobs/0123456789abcdef0123456789abcdef/events");
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(missing.header("content-type"), "application/problem+json");
  EXPECT_EQ(missing.json()["type"], "/problems/job-not-found");
  const auto done = submit(a->port(), {{"kind", "echo"}, {"params", json::object()}}, "?wait=5");
  ASSERT_EQ(done.status, 200) << done.body;
  const auto bad =
      get(a->port(), "/v1/jobs/" + done.json()["id"].get<std::string>() + "/events?last_event_id=x");
  EXPECT_EQ(bad.status, 400) << bad.body;
}

TEST(ClusterEvents, ProgressOfALoopJobOnAnotherReplicaIsStreamedAndCappedByEventHistory) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A", {"--test-kinds", "--event-history", "10"});
  auto b = replica(redis, "B", {"--test-kinds", "--event-history", "10"});
  const auto done = submit(
      a->port(), {{"kind", "chatter"}, {"executor", "loop"}, {"params", {{"events", 500}}}}, "?wait=10");
  ASSERT_EQ(done.status, 200) << done.body;
  const std::string id = done.json()["id"];
  // 503 events (queued, running, 500 progress, succeeded); XADD MAXLEN ~ 10 trims whole nodes
  // (100 entries): far fewer remain.
  const auto length = redis.admin({"XLEN", "jobd:ev:" + id}).as_integer();
  ASSERT_TRUE(length.has_value());
  EXPECT_LT(*length, 250);
  EXPECT_GE(*length, 10);
  EXPECT_GT(redis.admin({"PTTL", "jobd:ev:" + id}).as_integer().value_or(-1), 0);  // expires with the job
  // Either replica: the trimmed events are reported as one `dropped` event, then the rest.
  for (auto port : {a->port(), b->port()}) {
    const auto events = read_stream(port, "/v1/jobs/" + id + "/events");
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events.front().type, "dropped");
    EXPECT_EQ(events[1].type, "progress");
    EXPECT_EQ(events.front().data["count"], 503 - *length) << events.front().data.dump();
    EXPECT_EQ(events[1].id, std::to_string(503 - *length + 1));
    EXPECT_EQ(events.size(), static_cast<std::size_t>(*length) + 1);
    EXPECT_EQ(events.back().type, "state");
    EXPECT_EQ(events.back().id, "503");
    EXPECT_EQ(events.back().data["state"], "succeeded");
    EXPECT_EQ(events[events.size() - 2].data["fraction"], 1.0);
  }
}

TEST(ClusterEvents, AllEventsOnOneReplicaShowJobsThatRanOnAnotherOnce) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A");
  auto b = replica(redis, "B");
  RawConnection on_b(b->port());
  ASSERT_TRUE(on_b.send(open_stream_request("/v1/events?kind=sleep")));
  ASSERT_TRUE(eventually([&] { return scraped_metric(b->port(), "jobd_sse_subscribers") == 1; }));
  const auto done = submit(a->port(), {{"kind", "sleep"}, {"params", {{"ms", 50}}}}, "?wait=10");
  ASSERT_EQ(done.status, 200) << done.body;
  const std::string id = done.json()["id"];
  std::vector<SseEvent> events;
  std::string raw;
  ASSERT_TRUE(eventually(
      [&] {
        raw += on_b.read_some(100ms);
        events = parse_sse(raw);
        return !events.empty() && events.back().data["state"] == "succeeded";
      },
      10s))
      << raw;
  std::this_thread::sleep_for(300ms);  // a duplicate would come within a batch or two
  raw += on_b.read_some(200ms);
  events = parse_sse(raw);
  std::vector<std::string> states;
  for (const auto& event : events) {
    EXPECT_EQ(event.data["id"], id);
    EXPECT_EQ(event.data["kind"], "sleep");
    states.push_back(event.data["state"]);
  }
  EXPECT_EQ(states, (std::vector<std::string>{"queued", "running", "succeeded"})) << raw;
  EXPECT_EQ(events.back().data["result"]["slept_ms"], 50);
}

TEST(ClusterEvents, AStreamAsksRedisFirstAndAnswers503WhenItIsAway) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A");
  const auto done = submit(a->port(), {{"kind", "echo"}, {"params", json::object()}}, "?wait=5");
  ASSERT_EQ(done.status, 200) << done.body;
  const std::string id = done.json()["id"];
  redis.pause();
  const auto started = std::chrono::steady_clock::now();
  const auto refused = get(a->port(), "/v1/jobs/" + id + "/events");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.json()["type"], "/problems/store-unavailable") << refused.body;
  EXPECT_FALSE(refused.header("retry-after").empty());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 8s);  // the command timeout, not a hang
  redis.resume();
  EXPECT_TRUE(eventually([&] { return get(a->port(), "/readyz").status == 200; }, 10s));
  const auto replay = read_stream(a->port(), "/v1/jobs/" + id + "/events");
  EXPECT_EQ(types_of(replay), (std::vector<std::string>{"state:queued", "state:running", "state:succeeded"}));
}
