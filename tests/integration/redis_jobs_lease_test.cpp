// Leases in the Redis job model against a real redis-server: renewals keep an attempt, an
// expired lease is reclaimed by another replica (attempt+1, or failed as interrupted when no
// attempt is left), and a replica that lost its lease can never finish over the newer attempt
// (river#1302).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "jobd/proto/rfc3339.hpp"
#include "redis_jobs_rig.hpp"

using namespace jobd;
using namespace jobd::store;
using namespace jobd::testing;
using redis::Reply;

namespace {

// Long enough that a loaded machine does not stall a renewal past it, short enough to wait out.
constexpr auto kLease = std::chrono::milliseconds(500);

RedisJobsOptions short_lease() {
  RedisJobsOptions options;
  options.lease = kLease;
  return options;
}

// Milliseconds before the job's hash expires: -1 never (it can still run), -2 gone.
long long pttl(RedisJobsRig& rig, const std::string& id) {
  return rig.server.admin({"PTTL", "jobd:job:" + id}).as_integer().value_or(-3);
}

Reclaimed reclaim(RedisJobsRig& rig, std::string consumer) {
  auto result =
      rig.loop.await(rig.jobs.reclaim(proto::Executor::thread, std::move(consumer), kLease, wall_ms()));
  if (!result.ok()) throw std::runtime_error("reclaim: " + result.detail);
  return result.value;
}

}  // namespace

TEST(RedisJobsLeaseTest, AStaleAttemptsFinishIsRefusedAndLeavesTheNewerAttempt) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig({}, short_lease());
  rig.submit(job_row("job", proto::Executor::thread, 2));
  ASSERT_EQ(rig.claim("r1", 1).size(), 1u);
  rig.loop.await(sleep_for(kLease + 100ms));  // r1 stalls past its lease (SIGSTOP, a long GC)
  const Reclaimed taken = reclaim(rig, "r2");
  EXPECT_EQ(taken.requeued, std::vector<std::string>{"job"});
  const auto second = rig.claim("r2", 1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].row.attempt, 2u);
  EXPECT_EQ(second[0].owner, "r2");
  // r1 wakes up: its renewal says the lease is gone, and its finish is refused.
  std::vector<Lease> mine{{"job", 1}};
  auto renewal = rig.loop.await(rig.jobs.renew("r1", mine, wall_ms()));
  ASSERT_TRUE(renewal.ok()) << renewal.detail;
  EXPECT_EQ(renewal.value.lost, std::vector<std::string>{"job"});
  AttemptEnd late{.state = proto::JobState::succeeded, .result_json = R"({"from":"r1"})"};
  auto refused = rig.loop.await(rig.jobs.finish("job", "r1", 1, late, wall_ms()));
  ASSERT_TRUE(refused.ok()) << refused.detail;
  EXPECT_EQ(refused.value, FinishResult::stale);
  // Even with the right attempt number, another consumer's finish is not accepted.
  auto impostor = rig.loop.await(rig.jobs.finish("job", "r1", 2, late, wall_ms()));
  EXPECT_EQ(impostor.value, FinishResult::stale);
  RedisJob now = rig.get("job");
  EXPECT_EQ(now.row.state, proto::JobState::running);
  EXPECT_EQ(now.row.attempt, 2u);
  EXPECT_EQ(now.owner, "r2");
  EXPECT_TRUE(now.row.result_json.empty());
  EXPECT_NE(now.row.attempts_json.find(R"("attempt":1,"type":"interrupted")"), std::string::npos)
      << now.row.attempts_json;

  AttemptEnd done{.state = proto::JobState::succeeded, .result_json = R"({"from":"r2"})"};
  auto accepted = rig.loop.await(rig.jobs.finish("job", "r2", 2, done, wall_ms()));
  EXPECT_EQ(accepted.value, FinishResult::accepted);
  now = rig.get("job");
  EXPECT_EQ(now.row.state, proto::JobState::succeeded);
  EXPECT_EQ(now.row.result_json, R"({"from":"r2"})");
  EXPECT_TRUE(now.row.finished_at_ms.has_value());
  // A final job takes no second finish, not even from its own attempt; the stream is empty.
  EXPECT_EQ(rig.loop.await(rig.jobs.finish("job", "r2", 2, late, wall_ms())).value, FinishResult::stale);
  EXPECT_EQ(rig.get("job").row.result_json, R"({"from":"r2"})");
  EXPECT_EQ(rig.stream_length(), 0);
  EXPECT_EQ(rig.loop.await(rig.jobs.finish("nobody", "r2", 1, done, wall_ms())).value,
            FinishResult::not_found);
}

TEST(RedisJobsLeaseTest, RenewedLeasesAreNotReclaimedAndExpiredOnesFailAsInterruptedWhenNoAttemptIsLeft) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig({}, short_lease());
  rig.submit(job_row("kept"));
  rig.submit(job_row("dropped"));
  ASSERT_EQ(rig.claim("r1", 2).size(), 2u);
  std::vector<Lease> kept{{"kept", 1}};
  for (int i = 0; i < 4; ++i) {  // twice the lease, renewing every lease/2
    rig.loop.await(sleep_for(kLease / 2));
    auto renewal = rig.loop.await(rig.jobs.renew("r1", kept, wall_ms()));
    ASSERT_TRUE(renewal.ok()) << renewal.detail;
    EXPECT_TRUE(renewal.value.lost.empty());
  }
  const Reclaimed taken = reclaim(rig, "r2");
  EXPECT_EQ(taken.failed, std::vector<std::string>{"dropped"});  // max_attempts 1
  EXPECT_TRUE(taken.requeued.empty());
  const RedisJob failed = rig.get("dropped");
  EXPECT_EQ(failed.row.state, proto::JobState::failed);
  EXPECT_EQ(failed.row.error_type, "interrupted");
  EXPECT_NE(failed.row.error_message.find("r1"), std::string::npos) << failed.row.error_message;
  EXPECT_TRUE(failed.row.finished_at_ms.has_value());
  EXPECT_EQ(rig.get("kept").row.state, proto::JobState::running);
  EXPECT_EQ(rig.get("kept").owner, "r1");
  EXPECT_EQ(rig.stream_length(), 1);  // only the kept attempt's entry remains
  // Failed by the reclaim: kept for the retention (1 h by default), then gone.
  EXPECT_GT(pttl(rig, "dropped"), 3'500'000);
  EXPECT_EQ(pttl(rig, "kept"), -1);
  AttemptEnd done{.state = proto::JobState::succeeded, .result_json = "1"};
  EXPECT_EQ(rig.loop.await(rig.jobs.finish("kept", "r1", 1, done, wall_ms())).value, FinishResult::accepted);
  EXPECT_GT(pttl(rig, "kept"), 3'500'000);
  EXPECT_EQ(rig.loop.await(rig.jobs.finish("dropped", "r1", 1, done, wall_ms())).value, FinishResult::stale);
}

TEST(RedisJobsLeaseTest, AReclaimedAttemptWaitsItsBackoffInTheDelayedSet) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig({}, short_lease());
  JobRow row = job_row("slow", proto::Executor::thread, 3);
  row.retry_delay_ms = 60'000;
  rig.submit(row);
  const auto first = rig.claim("r1", 1);
  ASSERT_EQ(first.size(), 1u);
  const std::int64_t claimed_at = first[0].row.started_at_ms.value_or(0);
  rig.loop.await(sleep_for(kLease + 100ms));
  const std::int64_t before = wall_ms();
  EXPECT_EQ(reclaim(rig, "r2").requeued, std::vector<std::string>{"slow"});
  const RedisJob waiting = rig.get("slow");
  EXPECT_EQ(waiting.row.state, proto::JobState::queued);
  EXPECT_EQ(waiting.row.attempt, 2u);
  ASSERT_TRUE(waiting.row.run_at_ms.has_value());
  // Equal jitter after attempt 1: between half the base delay and the whole of it.
  EXPECT_GE(*waiting.row.run_at_ms, before + 30'000);
  EXPECT_LE(*waiting.row.run_at_ms, wall_ms() + 60'000);
  // The failed attempt is recorded as the job table records one (RFC 3339 times, in ms).
  const auto attempts = nlohmann::json::parse(waiting.row.attempts_json);
  ASSERT_EQ(attempts.size(), 1u) << waiting.row.attempts_json;
  EXPECT_EQ(attempts[0]["attempt"], 1);
  EXPECT_EQ(attempts[0]["type"], "interrupted");
  const auto started = proto::parse_rfc3339_ms(attempts[0]["started_at"].get<std::string>());
  const auto finished = proto::parse_rfc3339_ms(attempts[0]["finished_at"].get<std::string>());
  ASSERT_TRUE(started && finished) << waiting.row.attempts_json;
  EXPECT_EQ(*started, claimed_at);
  EXPECT_GE(*finished, before);
  EXPECT_LE(*finished, wall_ms());
  EXPECT_EQ(rig.server.admin({"ZCARD", "jobd:delayed"}), Reply::integer(1));
  EXPECT_TRUE(rig.claim("r2", 1).empty());
  EXPECT_EQ(rig.loop.await(rig.jobs.promote_due(*waiting.row.run_at_ms)).value, 1u);
  const auto again = rig.claim("r2", 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].row.attempt, 2u);
}

TEST(RedisJobsLeaseTest, AClaimWhoseStartNeverRanIsDeliveredAgainWithTheSameAttempt) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig({}, short_lease());
  rig.submit(job_row("lost"));
  // A replica read the entry and died before its start script: pending, the job still queued.
  rig.server.admin({"XREADGROUP", "GROUP", "jobd", "dead", "COUNT", "1", "STREAMS", "jobd:q:thread", ">"});
  EXPECT_EQ(rig.get("lost").row.state, proto::JobState::queued);
  rig.loop.await(sleep_for(kLease + 100ms));
  EXPECT_EQ(reclaim(rig, "r2").redelivered, std::vector<std::string>{"lost"});
  const auto claimed = rig.claim("r2", 1);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].row.attempt, 1u);  // it never ran: no attempt was used
}

TEST(RedisJobsLeaseTest, AFinishThatAsksForARetryRequeuesTheNextAttempt) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig({}, short_lease());
  rig.submit(job_row("flaky", proto::Executor::thread, 2));
  ASSERT_EQ(rig.claim("r1", 1).size(), 1u);
  AttemptEnd crashed{.state = proto::JobState::failed,
                     .error_type = "crashed",
                     .error_message = "SIGSEGV",
                     .retry_at_ms = 0};
  EXPECT_EQ(rig.loop.await(rig.jobs.finish("flaky", "r1", 1, crashed, wall_ms())).value,
            FinishResult::accepted);
  EXPECT_EQ(rig.get("flaky").row.state, proto::JobState::queued);
  EXPECT_EQ(pttl(rig, "flaky"), -1);  // back to queued: never expires
  const auto second = rig.claim("r2", 1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].row.attempt, 2u);
  // No attempt left: the retry is ignored and the failure is final.
  EXPECT_EQ(rig.loop.await(rig.jobs.finish("flaky", "r2", 2, crashed, wall_ms())).value,
            FinishResult::accepted);
  const RedisJob final = rig.get("flaky");
  EXPECT_EQ(final.row.state, proto::JobState::failed);
  EXPECT_GT(pttl(rig, "flaky"), 0);
  EXPECT_EQ(final.row.error_type, "crashed");
  EXPECT_NE(final.row.attempts_json.find(R"("message":"SIGSEGV")"), std::string::npos)
      << final.row.attempts_json;
}

TEST(RedisJobsLeaseTest, ReplicasReclaimingAtOnceEachTakeADifferentJobAndNoneTwice) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig({}, short_lease());
  constexpr int kJobs = 20;
  for (int i = 0; i < kJobs; ++i) rig.submit(job_row("job-" + std::to_string(i), proto::Executor::thread, 2));
  ASSERT_EQ(rig.claim("dead", kJobs).size(), static_cast<std::size_t>(kJobs));
  rig.loop.await(sleep_for(kLease + 100ms));
  // Three replicas reclaim in the same moment, in small batches, pipelined on one connection.
  std::vector<std::string> requeued;
  int done = 0;
  for (const char* replica : {"r1", "r2", "r3"}) {
    for (int batch = 0; batch < 4; ++batch) {
      boost::asio::co_spawn(rig.loop.io,
                            rig.jobs.reclaim(proto::Executor::thread, replica, kLease, wall_ms(), 3),
                            [&](const std::exception_ptr&, RedisResult<Reclaimed> result) {
                              EXPECT_TRUE(result.ok()) << result.detail;
                              for (auto& id : result.value.requeued) requeued.push_back(std::move(id));
                              ++done;
                            });
    }
  }
  rig.loop.run_until([&] { return done == 12; }, 5s, "the reclaims");
  while (requeued.size() < static_cast<std::size_t>(kJobs)) {  // what the batches left
    const Reclaimed rest = reclaim(rig, "r1");
    if (rest.requeued.empty()) break;
    requeued.insert(requeued.end(), rest.requeued.begin(), rest.requeued.end());
  }
  std::set<std::string> unique(requeued.begin(), requeued.end());
  EXPECT_EQ(requeued.size(), static_cast<std::size_t>(kJobs));
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kJobs)) << "a job was reclaimed twice";
  EXPECT_EQ(rig.stream_length(), kJobs);  // one entry per job: its second attempt
  for (const auto& job : rig.claim("r2", 100)) EXPECT_EQ(job.row.attempt, 2u);
}
