// The Redis job model's pure parts: INFO's text judged for start-up (refuse, warn, accept), and
// a job hash's fields back to a RedisJob.
#include <gtest/gtest.h>

#include "store/redis_job_codec.hpp"

using namespace jobd;
using namespace jobd::store;
using redis::Reply;

namespace {

std::string info(std::string_view version, std::string_view policy, std::string_view aof) {
  return "# Server\r\nredis_version:" + std::string(version) +
         "\r\nredis_mode:standalone\r\n\r\n# Memory\r\n" + "maxmemory_policy:" + std::string(policy) +
         "\r\n\r\n# Persistence\r\naof_enabled:" + std::string(aof) + "\r\n";
}

Reply hash(std::initializer_list<std::string_view> fields) {
  Reply::Array array;
  for (std::string_view field : fields) array.push_back(Reply::string(std::string(field)));
  return Reply::array(std::move(array));
}

}  // namespace

TEST(RedisJobCodecTest, AcceptsRedis7WithNoevictionAndAof) {
  const ServerCheck check = assess_server(info("7.0.15", "noeviction", "1"), "everysec");
  EXPECT_TRUE(check.ok);
  EXPECT_TRUE(check.warnings.empty());
  EXPECT_EQ(check.version, "7.0.15");
}

TEST(RedisJobCodecTest, RefusesEvictionAndOldRedisSayingWhy) {
  const ServerCheck lru = assess_server(info("7.2.4", "allkeys-lru", "1"), "everysec");
  EXPECT_FALSE(lru.ok);
  EXPECT_NE(lru.refusal.find("allkeys-lru"), std::string::npos);
  EXPECT_NE(lru.refusal.find("set maxmemory-policy noeviction"), std::string::npos);
  const ServerCheck old = assess_server(info("6.2.14", "noeviction", "1"), "everysec");
  EXPECT_FALSE(old.ok);
  EXPECT_NE(old.refusal.find("6.2.14"), std::string::npos);
  EXPECT_FALSE(assess_server("", "").ok);  // nothing known: refuse rather than guess
}

TEST(RedisJobCodecTest, WarnsWithoutAofOrWithoutFsync) {
  const ServerCheck no_aof = assess_server(info("7.0.15", "noeviction", "0"), "everysec");
  EXPECT_TRUE(no_aof.ok);
  ASSERT_EQ(no_aof.warnings.size(), 1u);
  EXPECT_NE(no_aof.warnings[0].find("appendonly no"), std::string::npos);
  const ServerCheck no_fsync = assess_server(info("7.0.15", "noeviction", "1"), "no");
  ASSERT_EQ(no_fsync.warnings.size(), 1u);
  EXPECT_NE(no_fsync.warnings[0].find("appendfsync is no"), std::string::npos);
  // CONFIG refused (managed Redis): fsync is not judged, AOF still is.
  EXPECT_TRUE(assess_server(info("7.0.15", "noeviction", "1"), "").warnings.empty());
}

TEST(RedisJobCodecTest, ReadsAJobHashIntoItsRowAndQueueFields) {
  const auto job = job_from_hash(hash({"id",
                                       "abc",
                                       "seq",
                                       "42",
                                       "kind",
                                       "echo",
                                       "executor",
                                       "process",
                                       "params",
                                       "{}",
                                       "timeout_ms",
                                       "5000",
                                       "max_attempts",
                                       "3",
                                       "retry_delay_ms",
                                       "100",
                                       "created_at",
                                       "1764337656123",
                                       "state",
                                       "running",
                                       "attempt",
                                       "2",
                                       "started_at",
                                       "1764337656200",
                                       "owner",
                                       "r1",
                                       "lease_until",
                                       "1764337686200",
                                       "cancel",
                                       "1",
                                       "entry",
                                       "1-0",
                                       "idempotency_key",
                                       "k",
                                       "attempts",
                                       "[]"}));
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->row.id, "abc");
  EXPECT_EQ(job->row.seq, 42u);
  EXPECT_EQ(job->row.executor, proto::Executor::process);
  EXPECT_EQ(job->row.timeout_ms, 5000);
  EXPECT_EQ(job->row.max_attempts, 3u);
  EXPECT_EQ(job->row.retry_delay_ms, 100);
  EXPECT_EQ(job->row.created_at_ms, 1764337656123);
  EXPECT_EQ(job->row.state, proto::JobState::running);
  EXPECT_EQ(job->row.attempt, 2u);
  EXPECT_EQ(job->row.started_at_ms, std::optional<std::int64_t>(1764337656200));
  EXPECT_FALSE(job->row.finished_at_ms.has_value());
  EXPECT_EQ(job->row.idempotency_key, std::optional<std::string>("k"));
  EXPECT_EQ(job->row.attempts_json, "[]");
  EXPECT_EQ(job->owner, "r1");
  EXPECT_EQ(job->lease_until_ms, 1764337686200);
  EXPECT_TRUE(job->cancel_requested);
  EXPECT_FALSE(job_from_hash(hash({})).has_value());
  EXPECT_FALSE(job_from_hash(hash({"seq", "1"})).has_value());  // no id: not a job
  EXPECT_FALSE(job_from_hash(Reply::nil()).has_value());
}
