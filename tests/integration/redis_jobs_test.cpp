// The Redis job model (store/redis_jobs.hpp) against a real redis-server: submit and its
// idempotency, claims by two consumers, delayed jobs, cancel, list, the start-up check, and a
// Redis restart with AOF. Leases, reclaim and the fenced finish: redis_jobs_lease_test.cpp.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "redis_jobs_rig.hpp"
#include "store/redis/subscriber.hpp"

using namespace jobd;
using namespace jobd::store;
using namespace jobd::testing;
using redis::Reply;

TEST(RedisJobsTest, AnIdempotentSubmitReturnsTheFirstJobAndAddsOneStreamEntry) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig;
  JobRow first = job_row("job-a");
  first.idempotency_key = "order-7";
  const Submitted created = rig.submit(first);
  EXPECT_EQ(created.id, "job-a");
  EXPECT_EQ(created.seq, 1u);
  EXPECT_FALSE(created.replayed);
  JobRow again = job_row("job-b");  // another replica's fresh id, the same key
  again.idempotency_key = "order-7";
  const Submitted replayed = rig.submit(again);
  EXPECT_TRUE(replayed.replayed);
  EXPECT_EQ(replayed.id, "job-a");
  EXPECT_EQ(replayed.seq, 1u);
  EXPECT_EQ(rig.stream_length(), 1);
  EXPECT_EQ(rig.server.admin({"EXISTS", "jobd:job:job-b"}), Reply::integer(0));
  EXPECT_EQ(rig.server.admin({"ZCARD", "jobd:jobs"}), Reply::integer(1));

  const RedisJob stored = rig.get("job-a");
  EXPECT_EQ(stored.row.seq, 1u);
  EXPECT_EQ(stored.row.kind, "echo");
  EXPECT_EQ(stored.row.executor, proto::Executor::thread);
  EXPECT_EQ(stored.row.params_json, first.params_json);
  EXPECT_EQ(stored.row.idempotency_key, std::optional<std::string>("order-7"));
  EXPECT_EQ(stored.row.state, proto::JobState::queued);
  EXPECT_EQ(stored.row.attempt, 1u);
  EXPECT_EQ(stored.row.created_at_ms, first.created_at_ms);
  // Without a key, the same row twice is refused rather than overwritten.
  const Submitted other = rig.submit(job_row("job-c"));
  EXPECT_EQ(other.seq, 2u);
  auto clash = rig.loop.await(rig.jobs.submit(job_row("job-c")));
  EXPECT_FALSE(clash.ok());
  EXPECT_EQ(rig.stream_length(), 2);
}

TEST(RedisJobsTest, TwoConsumersNeverClaimTheSameJobAndTakeNoMoreThanAsked) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig;
  // Both wait in XREADGROUP ... BLOCK while the jobs arrive.
  std::vector<RedisJob> first, second;
  bool first_done = false, second_done = false;
  auto claim_into = [&](std::string consumer, std::vector<RedisJob>& into, bool& done) {
    boost::asio::co_spawn(
        rig.loop.io,
        rig.jobs.claim(proto::Executor::thread, std::move(consumer), 4, std::chrono::milliseconds(3000),
                       wall_ms()),
        [&into, &done](const std::exception_ptr&, RedisResult<std::vector<RedisJob>> result) {
          EXPECT_TRUE(result.ok()) << result.detail;
          into = std::move(result.value);
          done = true;
        });
  };
  redis::RedisConnection claims_b(rig.loop.io.get_executor(), rig.server.options());
  claims_b.start();
  ASSERT_FALSE(rig.loop.await(claims_b.wait_ready(5s)));
  RedisJobs replica_b(rig.commands, claims_b);
  claim_into("r1", first, first_done);
  boost::asio::co_spawn(
      rig.loop.io,
      replica_b.claim(proto::Executor::thread, "r2", 4, std::chrono::milliseconds(3000), wall_ms()),
      [&](const std::exception_ptr&, RedisResult<std::vector<RedisJob>> result) {
        second = std::move(result.value);
        second_done = true;
      });
  rig.loop.run_for(100ms);
  for (int i = 0; i < 10; ++i) rig.submit(job_row("job-" + std::to_string(i)));
  rig.loop.run_until([&] { return first_done && second_done; }, 5s, "both claims");
  EXPECT_LE(first.size(), 4u);
  EXPECT_LE(second.size(), 4u);
  // Then each drains what is left, asking for more than remains.
  for (auto& job : rig.claim("r1", 3)) first.push_back(std::move(job));
  for (auto& job : rig.claim("r2", 100)) second.push_back(std::move(job));
  EXPECT_TRUE(rig.claim("r1", 100).empty());
  std::set<std::string> ids;
  for (const auto& job : first) {
    EXPECT_EQ(job.owner, "r1");
    EXPECT_EQ(job.row.state, proto::JobState::running);
    EXPECT_EQ(job.row.attempt, 1u);
    ids.insert(job.row.id);
  }
  for (const auto& job : second) {
    EXPECT_EQ(job.owner, "r2");
    ids.insert(job.row.id);
  }
  EXPECT_EQ(first.size() + second.size(), 10u);
  EXPECT_EQ(ids.size(), 10u) << "a job was claimed twice";
  EXPECT_EQ(rig.get(first.front().row.id).owner, "r1");
  EXPECT_TRUE(rig.get(first.front().row.id).row.started_at_ms.has_value());
}

TEST(RedisJobsTest, ADelayedJobIsInvisibleToClaimsUntilPromoteDueMovesIt) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig;
  JobRow later = job_row("later");
  const std::int64_t due = later.created_at_ms + 3'600'000;
  later.run_at_ms = due;
  rig.submit(later);
  EXPECT_EQ(rig.stream_length(), 0);
  EXPECT_TRUE(rig.claim("r1", 10).empty());
  auto early = rig.loop.await(rig.jobs.promote_due(due - 1));
  ASSERT_TRUE(early.ok()) << early.detail;
  EXPECT_EQ(early.value, 0u);
  EXPECT_TRUE(rig.claim("r1", 10).empty());
  auto promoted = rig.loop.await(rig.jobs.promote_due(due));
  EXPECT_EQ(promoted.value, 1u);
  auto twice = rig.loop.await(rig.jobs.promote_due(due + 1));  // another replica, same moment
  EXPECT_EQ(twice.value, 0u);
  EXPECT_EQ(rig.stream_length(), 1);
  const auto claimed = rig.claim("r1", 10);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].row.id, "later");
  EXPECT_EQ(claimed[0].row.run_at_ms, std::optional<std::int64_t>(due));
}

TEST(RedisJobsTest, CancelStopsQueuedJobsAtOnceFlagsRunningOnesAndLeavesFinalOnes) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig;
  std::vector<redis::PubSubMessage> heard;
  redis::RedisSubscriber control(rig.loop.io.get_executor(), rig.server.options(),
                                 [&](const redis::PubSubMessage& message) { heard.push_back(message); });
  control.start();
  ASSERT_FALSE(rig.loop.await(control.wait_ready(5s)));
  ASSERT_FALSE(rig.loop.await(control.subscribe(rig.jobs.control_channel("r1"))));
  ASSERT_FALSE(rig.loop.await(control.subscribe(rig.jobs.events_channel())));
  const auto events_of = [&](const std::string& id) {
    std::vector<std::string> states;
    for (const auto& message : heard) {
      const auto event = nlohmann::json::parse(message.payload, nullptr, false);
      if (message.channel == "jobd:events" && event.is_object() && event["id"] == id)
        states.push_back(event["state"].get<std::string>());
    }
    return states;
  };
  const auto control_messages = [&] {
    std::vector<std::string> ids;
    for (const auto& message : heard)
      if (message.channel == "jobd:ctl:r1") ids.push_back(message.payload);
    return ids;
  };

  rig.submit(job_row("queued"));
  JobRow later = job_row("delayed");
  later.run_at_ms = later.created_at_ms + 60'000;
  rig.submit(later);
  auto queued = rig.loop.await(rig.jobs.cancel("queued", wall_ms()));
  ASSERT_TRUE(queued.ok()) << queued.detail;
  EXPECT_EQ(queued.value.result, CancelResult::cancelled);
  EXPECT_EQ(rig.get("queued").row.state, proto::JobState::cancelled);
  EXPECT_EQ(rig.get("queued").row.error_type, "cancelled");
  EXPECT_EQ(rig.stream_length(), 0);
  EXPECT_EQ(rig.loop.await(rig.jobs.cancel("delayed", wall_ms())).value.result, CancelResult::cancelled);
  EXPECT_EQ(rig.server.admin({"ZCARD", "jobd:delayed"}), Reply::integer(0));
  EXPECT_EQ(rig.loop.await(rig.jobs.promote_due(later.run_at_ms.value())).value, 0u);
  EXPECT_TRUE(rig.claim("r1", 10).empty());

  rig.submit(job_row("running"));
  ASSERT_EQ(rig.claim("r1", 10).size(), 1u);
  auto running = rig.loop.await(rig.jobs.cancel("running", wall_ms()));
  EXPECT_EQ(running.value.result, CancelResult::requested);
  EXPECT_EQ(running.value.owner, "r1");
  rig.loop.run_until([&] { return !control_messages().empty(); }, 3s, "the control message");
  EXPECT_EQ(control_messages(), std::vector<std::string>{"running"});
  // Every state change is published, the submit's `queued` included (GET /v1/events shows it).
  EXPECT_EQ(events_of("queued"), (std::vector<std::string>{"queued", "cancelled"}));
  EXPECT_EQ(events_of("running"), (std::vector<std::string>{"queued", "running"}));
  EXPECT_EQ(rig.get("running").row.state, proto::JobState::running);  // until its owner stops it
  EXPECT_TRUE(rig.get("running").cancel_requested);
  // The flag also reaches the owner through its renewal, should the message be lost.
  std::vector<Lease> leases{{"running", 1}};
  auto renewal = rig.loop.await(rig.jobs.renew("r1", leases, wall_ms()));
  EXPECT_EQ(renewal.value.cancelled, std::vector<std::string>{"running"});
  EXPECT_TRUE(renewal.value.lost.empty());
  AttemptEnd stopped{
      .state = proto::JobState::cancelled, .error_type = "cancelled", .error_message = "DELETE"};
  EXPECT_EQ(rig.loop.await(rig.jobs.finish("running", "r1", 1, stopped, wall_ms())).value,
            FinishResult::accepted);

  rig.loop.run_until([&] { return events_of("running").size() == 3; }, 3s, "the final event");
  EXPECT_EQ(events_of("running").back(), "cancelled");
  // ... and appended to the job's event stream (SSE on any replica), which expires with the job.
  EXPECT_EQ(rig.server.admin({"XLEN", "jobd:ev:running"}), Reply::integer(3));
  EXPECT_GT(rig.server.admin({"PTTL", "jobd:ev:running"}).as_integer().value_or(-1), 0);
  auto final = rig.loop.await(rig.jobs.cancel("running", wall_ms()));
  EXPECT_EQ(final.value.result, CancelResult::already_final);
  EXPECT_EQ(final.value.state, std::optional<proto::JobState>(proto::JobState::cancelled));
  EXPECT_EQ(rig.loop.await(rig.jobs.cancel("nobody", wall_ms())).value.result, CancelResult::not_found);
}

TEST(RedisJobsTest, ListPagesInSeqOrderAfterACursor) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig;
  for (const char* id : {"a", "b", "c"}) rig.submit(job_row(id));
  auto page = rig.loop.await(rig.jobs.list(0, 2));
  ASSERT_TRUE(page.ok()) << page.detail;
  ASSERT_EQ(page.value.size(), 2u);
  EXPECT_EQ(page.value[0].row.id, "a");
  EXPECT_EQ(page.value[1].row.id, "b");
  auto next = rig.loop.await(rig.jobs.list(page.value[1].row.seq, 2));
  ASSERT_EQ(next.value.size(), 1u);
  EXPECT_EQ(next.value[0].row.id, "c");
  EXPECT_EQ(next.value[0].row.seq, 3u);
}

TEST(RedisJobsTest, CheckServerRefusesEvictionAndWarnsWithoutAof) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig;  // RedisServer runs with --appendonly no
  auto plain = rig.loop.await(rig.jobs.check_server());
  ASSERT_TRUE(plain.ok()) << plain.detail;
  EXPECT_TRUE(plain.value.ok) << plain.value.refusal;
  ASSERT_EQ(plain.value.warnings.size(), 1u);
  EXPECT_NE(plain.value.warnings[0].find("appendonly no"), std::string::npos) << plain.value.warnings[0];
  EXPECT_FALSE(plain.value.version.empty());
  rig.server.admin({"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"});
  auto evicting = rig.loop.await(rig.jobs.check_server());
  EXPECT_FALSE(evicting.value.ok);
  EXPECT_NE(evicting.value.refusal.find("allkeys-lru"), std::string::npos) << evicting.value.refusal;
  EXPECT_NE(evicting.value.refusal.find("noeviction"), std::string::npos);
  rig.server.admin({"CONFIG", "SET", "maxmemory-policy", "noeviction"});
  rig.server.admin({"CONFIG", "SET", "appendonly", "yes"});
  auto durable = rig.loop.await(rig.jobs.check_server());
  EXPECT_TRUE(durable.value.ok);
  EXPECT_TRUE(durable.value.warnings.empty()) << durable.value.warnings[0];
}

TEST(RedisJobsTest, ARedisRestartWithAofKeepsSubmittedJobsTheirQueueAndTheirSeqs) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig({"--appendonly", "yes", "--appendfsync", "always"});
  ASSERT_TRUE(rig.loop.await(rig.jobs.create_groups()).ok());
  for (const char* id : {"a", "b", "c"}) rig.submit(job_row(id));
  ASSERT_EQ(rig.claim("r1", 1).size(), 1u);  // "a" runs when Redis goes down
  rig.server.restart();
  // The connections notice and come back by themselves; a command fails until they have.
  rig.loop.run_until(
      [&] {
        return rig.commands.health().state == redis::RedisState::connected &&
               rig.claims.health().state == redis::RedisState::connected &&
               rig.commands.health().connects >= 2 && rig.claims.health().connects >= 2;
      },
      10s, "reconnection");
  EXPECT_EQ(rig.get("a").row.state, proto::JobState::running);
  EXPECT_EQ(rig.get("a").owner, "r1");
  const auto rest = rig.claim("r2", 10);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].row.id, "b");
  EXPECT_EQ(rest[1].row.id, "c");
  EXPECT_EQ(rig.submit(job_row("d")).seq, 4u);  // the counter survived: no seq handed out twice
}

TEST(RedisJobsTest, WithoutAofARestartLosesTheJobsWhichIsWhyCheckServerWarns) {
  SKIP_WITHOUT_REDIS();
  RedisJobsRig rig;  // --appendonly no, no snapshots: the control for the test above
  rig.submit(job_row("a"));
  rig.server.restart();
  rig.loop.run_until([&] { return rig.commands.health().connects >= 2; }, 10s, "reconnection");
  auto gone = rig.loop.await(rig.jobs.get("a"));
  ASSERT_TRUE(gone.ok()) << gone.detail;
  EXPECT_FALSE(gone.value.has_value());
}
