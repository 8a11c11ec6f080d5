// Retention on Redis (issue 14): a final job's hash and idempotency key expire after
// --retention on every replica, its id leaves the `jobs` zset, and a job that can still run
// never expires. Two jobd processes on a real redis-server started by the test.
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "cluster_fixture.hpp"
#include "subprocess_fixture.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Milliseconds left before the key expires: -1 no expiry, -2 no such key.
long long pttl(const RedisServer& redis, const std::string& key) {
  return redis.admin({"PTTL", key}).as_integer().value_or(-3);
}

bool in_index(const RedisServer& redis, const std::string& id) {
  return !redis.admin({"ZSCORE", "jobd:jobs", id}).is_nil();
}

}  // namespace

TEST(ClusterRetention, AFinalJobLeavesRedisAfterTheRetentionAndALiveOneStays) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A", {"--retention", "1s", "--test-kinds"});
  auto b = replica(redis, "B", {"--retention", "1s", "--test-kinds"});

  const json body = {{"kind", "echo"}, {"params", {{"x", 1}}}, {"idempotency_key", "order-9"}};
  const auto done = submit(a->port(), body);
  ASSERT_EQ(done.status, 202) << done.body;
  const std::string id = done.json()["id"];
  const auto waited = get(b->port(), "/v1/jobs/" + id + "?wait=10");
  ASSERT_EQ(waited.json()["state"], "succeeded") << waited.body;
  // Running for longer than the retention, and queued for later: neither may expire.
  const auto running = submit(b->port(), {{"kind", "sleep"}, {"params", {{"ms", 4000}}}});
  ASSERT_EQ(running.status, 202) << running.body;
  const std::string running_id = running.json()["id"];
  const auto queued = submit(a->port(), {{"kind", "echo"}, {"params", json::object()}, {"delay_ms", 60000}});
  ASSERT_EQ(queued.status, 202) << queued.body;
  const std::string queued_id = queued.json()["id"];
  // Cancelled while queued: final at once, so it expires too.
  const auto doomed = submit(a->port(), {{"kind", "echo"}, {"params", json::object()}, {"delay_ms", 60000}});
  const std::string doomed_id = doomed.json()["id"];
  ASSERT_EQ(http_request(b->port(), "DELETE", "/v1/jobs/" + doomed_id).status, 200);

  EXPECT_GT(pttl(redis, "jobd:job:" + id), 0);
  EXPECT_GT(pttl(redis, "jobd:idem:order-9"), 0);
  EXPECT_GT(pttl(redis, "jobd:job:" + doomed_id), 0);
  ASSERT_TRUE(eventually([&] { return state_on(a->port(), running_id) == "running"; }, 5s));
  EXPECT_EQ(pttl(redis, "jobd:job:" + running_id), -1);
  EXPECT_EQ(pttl(redis, "jobd:job:" + queued_id), -1);

  // Past the retention: gone on both replicas, from the index too (the promote timer's trim).
  ASSERT_TRUE(eventually([&] { return get(a->port(), "/v1/jobs/" + id).status == 404; }, 5s));
  EXPECT_EQ(get(b->port(), "/v1/jobs/" + id).status, 404);
  // Cancelled a moment later than the first one ended: it expires a moment later too.
  EXPECT_TRUE(eventually([&] { return get(b->port(), "/v1/jobs/" + doomed_id).status == 404; }, 5s));
  EXPECT_EQ(pttl(redis, "jobd:idem:order-9"), -2);
  EXPECT_TRUE(eventually([&] { return !in_index(redis, id) && !in_index(redis, doomed_id); }, 5s));
  EXPECT_EQ(get(a->port(), "/v1/jobs/" + running_id).status, 200);
  EXPECT_EQ(get(b->port(), "/v1/jobs/" + queued_id).json()["state"], "queued");
  EXPECT_TRUE(in_index(redis, running_id));
  const auto listed = get(b->port(), "/v1/jobs?limit=10");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.json()["jobs"].size(), 2u) << listed.body;

  // The idempotency key names a new job now (not a conflict with the expired one).
  json other = body;
  other["params"]["x"] = 2;
  const auto again = submit(b->port(), other);
  ASSERT_EQ(again.status, 202) << again.body;
  EXPECT_NE(again.json()["id"], id);
  EXPECT_NE(again.header("idempotent-replayed"), "true");
}
