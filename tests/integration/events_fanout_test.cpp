// GET /v1/events served by the fan-out thread (api/event_fanout.hpp): many subscribers all get
// every state event in order; a client that closes its stream frees its connection slot at
// once; a stream requested with a pipelined request behind it is served (the rest is dropped,
// as a close-delimited body is the connection's last answer).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;

namespace {

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size()))
    ++count;
  return count;
}

// Reads from `connection` until `events` state events arrived, or `limit` passed.
std::string read_events(RawConnection& connection, std::size_t events, std::chrono::milliseconds limit) {
  std::string seen;
  const auto until = std::chrono::steady_clock::now() + limit;
  while (count_of(seen, "event: state") < events && std::chrono::steady_clock::now() < until) {
    seen += connection.read_some(200ms);
  }
  return seen;
}

}  // namespace

TEST(EventsFanout, TwoHundredFiftySubscribersEachGetEveryStateEventOfEveryJobInOrder) {
  JobdProcess server({"--workers", "0", "--sse-heartbeat", "10m"});
  constexpr int kSubscribers = 250;
  constexpr int kJobs = 20;
  std::vector<std::unique_ptr<RawConnection>> subscribers;
  for (int i = 0; i < kSubscribers; ++i) {
    subscribers.push_back(std::make_unique<RawConnection>(server.port()));
    // Filters are the fan-out thread's: half the streams ask for echo jobs by kind.
    subscribers.back()->send(open_stream_request(i % 2 ? "/v1/events?kind=echo" : "/v1/events"));
  }
  ASSERT_TRUE(
      eventually([&] { return scraped_metric(server.port(), "jobd_sse_subscribers") == kSubscribers; }, 10s));
  // Each subscriber's head arrived: the stream is with the fan-out thread from then on.
  for (auto& subscriber : subscribers) ASSERT_NE(subscriber->read_some(5s).find("200 OK"), std::string::npos);
  std::vector<std::pair<std::string, std::string>> expected;
  for (int i = 0; i < kJobs; ++i) {
    const auto done = submit(server.port(), {{"kind", "echo"}, {"params", {{"i", i}}}}, "?wait=5");
    ASSERT_EQ(done.status, 200) << done.body;
    const std::string id = done.json()["id"];
    for (const char* state : {"queued", "running", "succeeded"}) expected.emplace_back(id, state);
  }
  int complete = 0;
  for (int s = 0; s < kSubscribers; ++s) {
    const auto events = parse_sse(read_events(*subscribers[s], expected.size(), 5s));
    std::vector<std::pair<std::string, std::string>> got;
    for (const auto& event : events) {
      if (event.type == "state") got.emplace_back(event.data["id"], event.data["state"]);
      EXPECT_NE(event.type, "dropped") << "subscriber " << s;
    }
    EXPECT_EQ(got, expected) << "subscriber " << s;
    complete += got == expected;
  }
  EXPECT_EQ(complete, kSubscribers);
}

TEST(EventsFanout, AClientClosingItsStreamFreesItsConnectionSlotAtOnce) {
  // Two slots, both taken by streams; no heartbeat would ever notice the leaving client.
  JobdProcess server({"--max-connections", "2", "--sse-heartbeat", "10m", "--workers", "0"});
  auto first = std::make_unique<RawConnection>(server.port());
  auto second = std::make_unique<RawConnection>(server.port());
  first->send(open_stream_request("/v1/events"));
  second->send(open_stream_request("/v1/events"));
  ASSERT_NE(first->read_some(5s).find("200 OK"), std::string::npos);
  ASSERT_NE(second->read_some(5s).find("200 OK"), std::string::npos);
  // Full: a third connection waits (or is refused) while both streams are open.
  EXPECT_NE(http_request(server.port(), "GET", "/healthz", "", {}, 300ms).status, 200);
  const auto closed = std::chrono::steady_clock::now();
  first.reset();
  second.reset();
  EXPECT_TRUE(eventually(
      [&] { return http_request(server.port(), "GET", "/healthz", "", {}, 200ms).status == 200; }, 2s));
  const auto freed = std::chrono::steady_clock::now() - closed;
  EXPECT_LT(freed, 1s);
  EXPECT_TRUE(eventually([&] { return scraped_metric(server.port(), "jobd_sse_subscribers") == 0; }, 2s));
  std::printf("[ figures  ] /healthz answered %lld ms after both streams' clients closed\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(freed).count()));
}

TEST(EventsFanout, AStreamWithAPipelinedRequestBehindItIsServedAndTheRestIgnored) {
  JobdProcess server({"--workers", "0", "--sse-heartbeat", "10m"});
  RawConnection connection(server.port());
  connection.send(open_stream_request("/v1/events") + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_NE(connection.read_some(5s).find("200 OK"), std::string::npos);
  const auto done = submit(server.port(), {{"kind", "echo"}, {"params", {{"n", 1}}}}, "?wait=5");
  ASSERT_EQ(done.status, 200);
  const std::string seen = read_events(connection, 3, 5s);
  EXPECT_EQ(count_of(seen, "event: state"), 3u) << seen;
  // The stream is the connection's last answer (Connection: close): /healthz is never answered.
  EXPECT_EQ(seen.find("HTTP/1.1"), std::string::npos) << seen;
}
