// Following a job's event stream across replicas (cluster/job_events.cpp): its followers read on
// when a `jevents`/`events` message names the job, and a poll each second reads only the jobs
// whose followers heard no message since the round before. Shown here: an event whose message
// never comes still reaches its follower (through the poll), and busy followed jobs, woken by
// their messages, are not read by the poll too.
#include <gtest/gtest.h>

#include <thread>

#include "cluster_fixture.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// How many XRANGEs Redis ran since its last CONFIG RESETSTAT (the read_events script's own).
long xrange_calls(const RedisServer& redis) {
  const std::string info(redis.admin({"INFO", "commandstats"}).text());
  const auto at = info.find("cmdstat_xrange:calls=");
  return at == std::string::npos ? 0 : std::stol(info.substr(at + 21));
}

// A job that stays queued for a minute and writes no event meanwhile: nothing wakes its followers.
std::string quiet_job(std::uint16_t port) {
  const auto submitted = submit(port, {{"kind", "echo"}, {"params", json::object()}, {"delay_ms", 60000}});
  EXPECT_EQ(submitted.status, 202) << submitted.body;
  return submitted.status == 202 ? submitted.json()["id"].get<std::string>() : "";
}

// A stream of the job's events, open once its first event (queued) arrived: its follow is set up.
std::unique_ptr<RawConnection> follow(std::uint16_t port, const std::string& id, std::string& raw) {
  auto stream = std::make_unique<RawConnection>(port);
  EXPECT_TRUE(stream->send(open_stream_request("/v1/jobs/" + id + "/events")));
  EXPECT_TRUE(eventually(
      [&] {
        raw += stream->read_some(100ms);
        return !parse_sse(raw).empty();
      },
      10s))
      << raw;
  return stream;
}

}  // namespace

TEST(ClusterFollow, AnEventWhoseMessageNeverComesReachesItsFollowerThroughThePoll) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  auto a = replica(redis, "A");
  const std::string id = quiet_job(a->port());
  ASSERT_FALSE(id.empty());
  std::string raw;
  auto stream = follow(a->port(), id, raw);
  ASSERT_EQ(parse_sse(raw).size(), 1u) << raw;
  // Written to the job's stream as append_events writes output, but without its PUBLISH: the
  // message lost while a subscriber reconnected.
  redis.admin({"XADD", "jobd:ev:" + id, "0-*", "t", "stdout", "x", "never announced"});
  std::vector<SseEvent> events;
  ASSERT_TRUE(eventually(
      [&] {
        raw += stream->read_some(100ms);
        events = parse_sse(raw);
        return events.size() >= 2;
      },
      6s))  // the poll reads a quiet job within two rounds (2 s)
      << raw;
  ASSERT_EQ(events.size(), 2u) << raw;
  EXPECT_EQ(events[1].type, "stdout");
  EXPECT_EQ(events[1].id, "2");
  EXPECT_EQ(events[1].data["line"], "never announced") << raw;
  EXPECT_EQ(events[1].data["id"], id);
}

TEST(ClusterFollow, BusyFollowedJobsAreReadOnTheirMessagesAndNotAgainByThePoll) {
  SKIP_WITHOUT_REDIS();
  RedisServer redis;
  // A 30 s lease: no renewal or reclaim runs during the test.
  JobdProcess a({"--store", redis.tcp_uri(), "--replica-id", "A", "--redis-lease", "30s", "--test-kinds"});
  constexpr long kJobs = 20;
  std::vector<std::string> ids;
  std::vector<std::unique_ptr<RawConnection>> streams;
  ids.reserve(kJobs);
  streams.reserve(kJobs);
  std::string names;  // the message: every followed id, and as many followed nowhere
  for (long i = 0; i < kJobs; ++i) {
    ids.push_back(quiet_job(a.port()));
    ASSERT_FALSE(ids.back().empty());
    std::string raw;
    streams.push_back(follow(a.port(), ids.back(), raw));
    names += ids.back() + " " + std::string(32, static_cast<char>('a' + i % 6)) + std::to_string(i) + " ";
  }
  names.pop_back();
  // Busy: a message names every followed job four times a second (as append_events does for
  // jobs with output, every 50 ms). Each wakes one read per followed job; the poll, five rounds
  // here, would add one per job per round if it read busy jobs too.
  redis.admin({"CONFIG", "RESETSTAT"});
  const auto started = std::chrono::steady_clock::now();
  long messages = 0;
  while (std::chrono::steady_clock::now() - started < 5s) {
    redis.admin({"PUBLISH", "jobd:jevents", names});
    ++messages;
    std::this_thread::sleep_for(250ms);
  }
  std::this_thread::sleep_for(100ms);  // the last reads
  const long reads = xrange_calls(redis);
  const long seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count();
  std::cout << "[ info ] " << reads << " XRANGEs for " << kJobs << " followed jobs, " << messages
            << " messages in " << seconds << " s\n";
  // The messages' reads (fewer when a message comes while the last read is still under way; none
  // for the ids followed nowhere), and fewer than half a read per job per second besides: a
  // stall of the test may let one poll round in, polling busy jobs would add about one.
  EXPECT_GE(reads, kJobs * messages / 2);
  EXPECT_LT(reads, kJobs * messages + kJobs * seconds / 2);
}
