// Replicas sharing their jobs on one Redis (--store redis://, issue 14): two jobd processes on a
// real redis-server started by the test (127.0.0.1, ephemeral port; stopped by PID). Any replica
// answers for any job; a killed replica's job is reclaimed; Redis away gives 503s, then recovery.
#include <gtest/gtest.h>

#include <signal.h>

#include <memory>
#include <thread>

#include "cluster_fixture.hpp"
#include "subprocess_fixture.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The replica that holds the job now (the `owner` field of its hash), "" if none.
std::string owner_of(const RedisServer& redis, const std::string& id) {
  const auto reply = redis.admin({"HGET", "jobd:job:" + id, "owner"});
  return reply.is_nil() ? "" : std::string(reply.text());
}

// A DELETE sent to the replica on `port` for a job another replica runs, then waited for there.
void expect_cancelled_through(std::uint16_t port, const std::string& id) {
  const auto started = std::chrono::steady_clock::now();
  const auto cancelled = http_request(port, "DELETE", "/v1/jobs/" + id);
  // 202 while the owner is still stopping it; 200 if it already wrote the cancel when read back.
  EXPECT_TRUE(cancelled.status == 202 || cancelled.status == 200) << cancelled.body;
  const auto waited = get(port, "/v1/jobs/" + id + "?wait=10");
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(waited.status, 200) << waited.body;
  EXPECT_EQ(waited.json()["state"], "cancelled") << waited.body;
  // The issue asks for 200 ms (the owner hears its control channel at once); a loaded test
  // machine gets more room, far below the lease (1 s) the renewal's cancel flag would take.
  EXPECT_LT(took, 900ms) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
}

}  // namespace

TEST(Cluster, AJobSubmittedOnOneReplicaIsReadWaitedForAndListedOnAnother) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A");
  auto b = replica(redis, "B");
  const auto submitted = submit(a->port(), {{"kind", "sleep"}, {"params", {{"ms", 300}}}});
  ASSERT_EQ(submitted.status, 202) << submitted.body;
  const std::string id = submitted.json()["id"];
  EXPECT_EQ(submitted.header("location"), "/v1/jobs/" + id);

  const auto read = get(b->port(), "/v1/jobs/" + id);
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(read.json()["id"], id);
  EXPECT_EQ(read.json()["kind"], "sleep");
  EXPECT_NE(read.json()["state"], "succeeded");  // 300 ms: not yet

  const auto waited = get(b->port(), "/v1/jobs/" + id + "?wait=10");
  ASSERT_EQ(waited.status, 200) << waited.body;
  EXPECT_EQ(waited.json()["state"], "succeeded") << waited.body;
  EXPECT_EQ(waited.json()["result"]["slept_ms"], 300);
  EXPECT_EQ(waited.json()["attempt"], 1);
  // The same record on both replicas once it is final.
  EXPECT_EQ(get(a->port(), "/v1/jobs/" + id).json(), get(b->port(), "/v1/jobs/" + id).json());

  EXPECT_EQ(get(b->port(), "/v1/jobs/0123456789abcdef0123456789abcdef").status, 404);
  EXPECT_EQ(scraped_metric(b->port(), "jobd_redis_up"), 1);
  EXPECT_GT(scraped_metric(b->port(), "jobd_redis_roundtrip_seconds"), 0);
  EXPECT_EQ(scraped_metric(a->port(), "jobd_redis_claimed_total") +
                scraped_metric(b->port(), "jobd_redis_claimed_total"),
            1);

  // A list on either replica: newest first, with a cursor to the next page.
  std::vector<std::string> ids{id};
  for (int i = 0; i < 2; ++i) {
    const auto more = submit(b->port(), {{"kind", "echo"}, {"params", {{"i", i}}}});
    ASSERT_EQ(more.status, 202) << more.body;
    ids.push_back(more.json()["id"]);
  }
  const auto first = get(a->port(), "/v1/jobs?limit=2");
  ASSERT_EQ(first.status, 200) << first.body;
  const json page = first.json();
  ASSERT_EQ(page["jobs"].size(), 2u) << first.body;
  EXPECT_EQ(page["jobs"][0]["id"], ids[2]);
  EXPECT_EQ(page["jobs"][1]["id"], ids[1]);
  ASSERT_TRUE(page["next_cursor"].is_string()) << first.body;
  const auto second = get(a->port(), "/v1/jobs?limit=2&cursor=" + page["next_cursor"].get<std::string>());
  ASSERT_EQ(second.status, 200) << second.body;
  const json rest = second.json();
  ASSERT_EQ(rest["jobs"].size(), 1u) << second.body;
  EXPECT_EQ(rest["jobs"][0]["id"], id);
  EXPECT_TRUE(rest["next_cursor"].is_null());
  const auto filtered = get(b->port(), "/v1/jobs?kind=sleep");
  ASSERT_EQ(filtered.json()["jobs"].size(), 1u) << filtered.body;
}

TEST(Cluster, ADeleteOnAnotherReplicaStopsAProcessJobOnTheReplicaRunningIt) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A");
  const auto submitted =
      submit(a->port(), {{"kind", "spin"}, {"executor", "process"}, {"params", {{"ms", 20000}}}});
  ASSERT_EQ(submitted.status, 202) << submitted.body;
  const std::string id = submitted.json()["id"];
  ASSERT_TRUE(eventually([&] { return state_on(a->port(), id) == "running"; }, 10s));
  auto b = replica(redis, "B");  // started after A claimed it: A runs it
  EXPECT_EQ(owner_of(redis, id), "A");

  expect_cancelled_through(b->port(), id);
  EXPECT_EQ(http_request(b->port(), "DELETE", "/v1/jobs/" + id).status, 409);
}

TEST(Cluster, ADeleteOnAnotherReplicaStopsASubprocessJobOnTheReplicaRunningIt) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  subprocess::Workspace ws;
  const std::string config = ws.write_config(subprocess::test_commands(ws));
  const auto start = [&](const std::string& name) { return replica(redis, name, {"--config", config}); };
  auto a = start("A");
  const auto submitted = submit(a->port(), {{"kind", "slow"}, {"params", json::object()}});
  ASSERT_EQ(submitted.status, 202) << submitted.body;
  const std::string id = submitted.json()["id"];
  ASSERT_TRUE(eventually([&] { return state_on(a->port(), id) == "running"; }, 10s));
  auto b = start("B");
  EXPECT_EQ(owner_of(redis, id), "A");
  expect_cancelled_through(b->port(), id);
}

TEST(Cluster, AJobOfAKilledReplicaIsReclaimedAndFinishedByAnother) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A");
  const auto retried =
      submit(a->port(),
             {{"kind", "sleep"}, {"params", {{"ms", 1500}}}, {"max_attempts", 2}, {"retry_delay_ms", 10}});
  const auto once = submit(a->port(), {{"kind", "sleep"}, {"params", {{"ms", 1500}}}});
  ASSERT_EQ(retried.status, 202) << retried.body;
  ASSERT_EQ(once.status, 202) << once.body;
  const std::string twice_id = retried.json()["id"];
  const std::string once_id = once.json()["id"];
  ASSERT_TRUE(eventually([&] { return state_on(a->port(), twice_id) == "running"; }, 10s));
  ASSERT_TRUE(eventually([&] { return state_on(a->port(), once_id) == "running"; }, 10s));
  auto b = replica(redis, "B");
  a->stop(9);

  // Within lease (1 s) + reclaim interval (0.5 s) + the second attempt (1.5 s), with room.
  const auto finished = get(b->port(), "/v1/jobs/" + twice_id + "?wait=15");
  ASSERT_EQ(finished.status, 200) << finished.body;
  const json twice = finished.json();
  EXPECT_EQ(twice["state"], "succeeded") << finished.body;
  EXPECT_EQ(twice["attempt"], 2) << finished.body;
  ASSERT_EQ(twice["attempts"].size(), 1u) << finished.body;
  EXPECT_EQ(twice["attempts"][0]["type"], "interrupted") << finished.body;
  EXPECT_EQ(owner_of(redis, twice_id), "B");
  // B took back both of A's attempts, and claimed the second one.
  EXPECT_GE(scraped_metric(b->port(), "jobd_redis_reclaimed_total"), 2);
  EXPECT_GE(scraped_metric(b->port(), "jobd_redis_claimed_total"), 1);

  const auto failed = get(b->port(), "/v1/jobs/" + once_id + "?wait=15");
  ASSERT_EQ(failed.status, 200) << failed.body;
  EXPECT_EQ(failed.json()["state"], "failed") << failed.body;
  EXPECT_EQ(failed.json()["error"]["type"], "interrupted") << failed.body;
  EXPECT_EQ(failed.json()["attempt"], 1) << failed.body;
}

TEST(Cluster, AStalledReplicaPastItsLeaseCannotOverwriteTheNewerAttempt) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A");
  const auto submitted =
      submit(a->port(),
             {{"kind", "sleep"}, {"params", {{"ms", 1200}}}, {"max_attempts", 2}, {"retry_delay_ms", 10}});
  ASSERT_EQ(submitted.status, 202) << submitted.body;
  const std::string id = submitted.json()["id"];
  ASSERT_TRUE(eventually([&] { return state_on(a->port(), id) == "running"; }, 10s));
  auto b = replica(redis, "B");
  ::kill(a->pid(), SIGSTOP);
  // B takes it over once A's lease (1 s) ran out, and runs attempt 2.
  const bool taken = eventually([&] { return owner_of(redis, id) == "B"; }, 10s);
  ::kill(a->pid(), SIGCONT);  // A's attempt 1 ends now (its sleep is over) or is stopped as lost
  ASSERT_TRUE(taken);
  const auto finished = get(b->port(), "/v1/jobs/" + id + "?wait=15");
  ASSERT_EQ(finished.status, 200) << finished.body;
  EXPECT_EQ(finished.json()["state"], "succeeded") << finished.body;
  EXPECT_EQ(finished.json()["attempt"], 2) << finished.body;
  std::this_thread::sleep_for(500ms);  // whatever A would still write has been tried
  const auto later = get(a->port(), "/v1/jobs/" + id);
  EXPECT_EQ(later.json()["attempt"], 2) << later.body;
  EXPECT_EQ(later.json()["state"], "succeeded") << later.body;
  EXPECT_EQ(owner_of(redis, id), "B");
}

TEST(Cluster, ADelayedJobOfAKilledReplicaRunsOnAnotherWhenDueAndNotBefore) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A");
  auto b = replica(redis, "B");
  const auto submitted = std::chrono::steady_clock::now();
  const auto delayed = submit(a->port(), {{"kind", "echo"}, {"params", {{"n", 7}}}, {"delay_ms", 1500}});
  ASSERT_EQ(delayed.status, 202) << delayed.body;
  const std::string id = delayed.json()["id"];
  EXPECT_TRUE(delayed.json().contains("run_at")) << delayed.body;
  a->stop(9);  // the replica that took it is gone before it is due

  const auto waiting = get(b->port(), "/v1/jobs/" + id);
  ASSERT_EQ(waiting.status, 200) << waiting.body;
  EXPECT_EQ(waiting.json()["state"], "queued") << waiting.body;
  const auto finished = get(b->port(), "/v1/jobs/" + id + "?wait=15");
  const auto took = std::chrono::steady_clock::now() - submitted;
  ASSERT_EQ(finished.status, 200) << finished.body;
  EXPECT_EQ(finished.json()["state"], "succeeded") << finished.body;
  EXPECT_EQ(finished.json()["result"], json({{"n", 7}})) << finished.body;
  EXPECT_EQ(finished.json()["attempt"], 1) << finished.body;
  EXPECT_EQ(owner_of(redis, id), "B");
  EXPECT_GE(took, 1500ms) << "ran before its delay";
}

TEST(Cluster, AnIdempotencyKeyNamesOneJobAcrossReplicas) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A");
  auto b = replica(redis, "B", {"--test-kinds"}, redis.unix_uri());
  const json body = {{"kind", "echo"}, {"params", {{"x", 1}}}, {"idempotency_key", "order-7"}};
  const auto first = submit(a->port(), body);
  ASSERT_EQ(first.status, 202) << first.body;
  const auto again = submit(b->port(), body);
  ASSERT_TRUE(again.status == 202 || again.status == 200) << again.body;
  EXPECT_EQ(again.json()["id"], first.json()["id"]);
  EXPECT_EQ(again.header("idempotent-replayed"), "true");
  json other = body;
  other["params"]["x"] = 2;
  const auto conflict = submit(b->port(), other);
  EXPECT_EQ(conflict.status, 422) << conflict.body;
  EXPECT_EQ(conflict.json()["type"], "/problems/idempotency-conflict");
}

TEST(Cluster, RedisAwayGives503sAndTheReplicaRecoversByItself) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A");
  const auto before = submit(a->port(), {{"kind", "echo"}, {"params", json::object()}});
  ASSERT_EQ(before.status, 202) << before.body;
  const std::string id = before.json()["id"];
  ASSERT_EQ(get(a->port(), "/v1/jobs/" + id + "?wait=5").json()["state"], "succeeded");
  // Running when Redis goes away: it ends meanwhile, and its result is written once Redis is back.
  const auto running = submit(a->port(), {{"kind", "sleep"}, {"params", {{"ms", 1000}}}});
  ASSERT_EQ(running.status, 202) << running.body;
  const std::string running_id = running.json()["id"];
  ASSERT_TRUE(eventually([&] { return state_on(a->port(), running_id) == "running"; }, 5s));
  redis.pause();
  const auto refused = submit(a->port(), {{"kind", "echo"}, {"params", json::object()}});
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.json()["type"], "/problems/store-unavailable") << refused.body;
  EXPECT_FALSE(refused.header("retry-after").empty());
  const auto unread = get(a->port(), "/v1/jobs/" + id);
  EXPECT_EQ(unread.status, 503) << unread.body;  // never a 404 it cannot know
  EXPECT_TRUE(eventually([&] { return get(a->port(), "/readyz").status == 503; }, 5s));
  std::this_thread::sleep_for(2s);
  redis.resume();
  EXPECT_TRUE(eventually([&] { return get(a->port(), "/readyz").status == 200; }, 10s));
  EXPECT_TRUE(eventually(
      [&] {
        return submit(a->port(), {{"kind", "echo"}, {"params", json::object()}}).status == 202;
      },
      10s));
  const auto after = get(a->port(), "/v1/jobs/" + running_id + "?wait=5");
  EXPECT_EQ(after.json()["state"], "succeeded") << after.body;
  EXPECT_EQ(after.json()["attempt"], 1) << after.body;
}

TEST(Cluster, AReplicaRefusesToStartWithoutItsRedis) {
  SKIP_WITHOUT_REDIS();
  const JobdRun run = run_jobd_until_exit("--store redis://127.0.0.1:1 --replica-id A");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("--store redis://127.0.0.1:1"), std::string::npos) << run.output;
}
