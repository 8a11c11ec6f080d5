// `?wait=` across replicas on Redis (issue 14): a waiting request reads Redis when its job's
// final message comes (or its poll, every 500 ms), not on each start or requeue of the job.
#include <gtest/gtest.h>

#include <thread>

#include "cluster_fixture.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// How many HGETALLs Redis ran since its last CONFIG RESETSTAT (scripts' own included).
long hgetall_calls(const RedisServer& redis) {
  const std::string info(redis.admin({"INFO", "commandstats"}).text());
  const auto at = info.find("cmdstat_hgetall:calls=");
  return at == std::string::npos ? 0 : std::stol(info.substr(at + 22));
}

}  // namespace

TEST(ClusterWait, WaitersReadRedisOnTheFinalMessageNotOnEachStartOrRetry) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  // A 30 s lease: no renewal or reclaim runs during the test, only the reads counted here.
  JobdProcess a({"--store", redis.tcp_uri(), "--replica-id", "A", "--redis-lease", "30s", "--test-kinds"});
  // Delayed, so the waiters are in before its first start; then four attempts, three requeues:
  // seven messages that do not end a wait, and the final one.
  const auto submitted = submit(a.port(), {{"kind", "fail"},
                                           {"executor", "loop"},
                                           {"params", {{"retryable", true}}},
                                           {"max_attempts", 4},
                                           {"retry_delay_ms", 20},
                                           {"delay_ms", 400}});
  ASSERT_EQ(submitted.status, 202) << submitted.body;
  const std::string id = submitted.json()["id"];
  redis.admin({"CONFIG", "RESETSTAT"});
  const auto started = std::chrono::steady_clock::now();
  constexpr int kWaiters = 20;
  std::vector<HttpResult> answers(kWaiters);
  std::vector<std::thread> waiters;
  waiters.reserve(kWaiters);
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] { answers[i] = get(a.port(), "/v1/jobs/" + id + "?wait=20"); });
  }
  for (std::thread& waiter : waiters) waiter.join();
  const auto took = std::chrono::steady_clock::now() - started;
  for (const HttpResult& answer : answers) {
    ASSERT_EQ(answer.status, 200) << answer.body;
    EXPECT_EQ(answer.json()["state"], "failed") << answer.body;
    EXPECT_EQ(answer.json()["attempt"], 4) << answer.body;
  }
  // Each waiter: its first read, one per poll (500 ms) and the final one; the start script adds
  // one per attempt. Woken by every message instead, the waiters would read about seven times
  // more each (140 here), far above this bound unless the machine stalls for seconds.
  const long polls = std::chrono::duration_cast<std::chrono::milliseconds>(took).count() / 500 + 1;
  const long bound = kWaiters * (2 + polls) + 4;
  const long reads = hgetall_calls(redis);
  EXPECT_LE(reads, bound) << "took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                          << " ms";
  std::cout << "[ info ] " << reads << " HGETALLs for " << kWaiters << " waiters (bound " << bound << ")\n";
}
