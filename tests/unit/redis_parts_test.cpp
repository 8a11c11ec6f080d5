// The Redis client's small pure parts: reconnect backoff, the in-flight deadline queue, SHA-1 of
// scripts, Pub/Sub message parsing, error codes.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <string>

#include "store/redis/backoff.hpp"
#include "store/redis/deadline_queue.hpp"
#include "store/redis/error.hpp"
#include "store/redis/pubsub.hpp"
#include "store/redis/sha1.hpp"

using namespace jobd::store::redis;
using std::chrono::milliseconds;

TEST(RedisBackoff, DoublesWithJitterUpToTheCapAndResets) {
  ReconnectBackoff backoff(milliseconds(50), milliseconds(2000), 42);
  const long steps[] = {50, 100, 200, 400, 800, 1600, 2000, 2000, 2000};
  for (long step : steps) {
    const long wait = backoff.next().count();
    EXPECT_GE(wait, step / 2) << "step " << step;
    EXPECT_LE(wait, step) << "step " << step;
  }
  backoff.reset();
  EXPECT_LE(backoff.next().count(), 50);
}

TEST(RedisBackoff, JitterSpreadsReplicasApart) {
  ReconnectBackoff a(milliseconds(50), milliseconds(2000), 1);
  ReconnectBackoff b(milliseconds(50), milliseconds(2000), 2);
  int different = 0;
  for (int i = 0; i < 10; ++i) different += a.next() != b.next();
  EXPECT_GE(different, 5);
}

TEST(RedisBackoff, NeverOverflowsAfterManyFailures) {
  ReconnectBackoff backoff(milliseconds(50), milliseconds(2000), 7);
  for (int i = 0; i < 10'000; ++i) {
    const auto wait = backoff.next();
    ASSERT_GE(wait.count(), 25);
    ASSERT_LE(wait.count(), 2000);
  }
}

TEST(RedisDeadlineQueue, PopsInOrderAndTracksTheEarliestDeadline) {
  using TimePoint = DeadlineQueue<int>::TimePoint;
  const auto at = [](int ms) { return TimePoint(milliseconds(ms)); };
  DeadlineQueue<int> queue;
  queue.push(1, at(500));  // a BLOCK command: a long deadline
  queue.push(2, at(100));  // a GET behind it: a shorter one
  queue.push(3, at(300));
  EXPECT_EQ(queue.earliest(), at(100));
  EXPECT_EQ(queue.front_deadline(), at(500));
  EXPECT_EQ(queue.pop(), 1);
  EXPECT_EQ(queue.earliest(), at(100));
  EXPECT_EQ(queue.pop(), 2);
  EXPECT_EQ(queue.earliest(), at(300));
  queue.push(4, at(300));  // equal deadlines
  EXPECT_EQ(queue.pop(), 3);
  EXPECT_EQ(queue.earliest(), at(300));
  EXPECT_EQ(queue.pop(), 4);
  EXPECT_TRUE(queue.empty());
}

TEST(RedisDeadlineQueue, EarliestMatchesABruteForceMinimum) {
  using TimePoint = DeadlineQueue<int>::TimePoint;
  DeadlineQueue<int> queue;
  std::deque<TimePoint> shadow;
  unsigned seed = 12345;
  for (int i = 0; i < 5000; ++i) {
    seed = seed * 1103515245 + 12345;
    if (shadow.empty() || (seed >> 16) % 3 != 0) {
      const TimePoint deadline{milliseconds((seed >> 8) % 1000)};
      queue.push(i, deadline);
      shadow.push_back(deadline);
    } else {
      queue.pop();
      shadow.pop_front();
    }
    if (!shadow.empty()) {
      ASSERT_EQ(queue.earliest(), *std::min_element(shadow.begin(), shadow.end())) << i;
    }
    ASSERT_EQ(queue.size(), shadow.size());
  }
}

TEST(RedisSha1, MatchesTheFips180Vectors) {
  EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(sha1_hex(std::string(1'000'000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  // Lengths around the padding boundary (55, 56, 63, 64 bytes).
  EXPECT_EQ(sha1_hex(std::string(55, 'x')).size(), 40u);
  EXPECT_NE(sha1_hex(std::string(56, 'x')), sha1_hex(std::string(55, 'x')));
  EXPECT_EQ(sha1_hex("return 1"), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");  // SCRIPT LOAD's answer
}

TEST(RedisPubSub, ParsesMessagesPatternMessagesAndConfirmations) {
  using S = std::string;
  PubSubEvent m = parse_pubsub(
      Reply::array({Reply::string("message"), Reply::string("ch"), Reply::string(S("p\0q", 3))}));
  EXPECT_EQ(m.kind, PubSubEvent::Kind::message);
  EXPECT_EQ(m.message, (PubSubMessage{"ch", S("p\0q", 3), ""}));
  PubSubEvent pm = parse_pubsub(Reply::array(
      {Reply::string("pmessage"), Reply::string("jobs.*"), Reply::string("jobs.1"), Reply::string("x")}));
  EXPECT_EQ(pm.kind, PubSubEvent::Kind::message);
  EXPECT_EQ(pm.message, (PubSubMessage{"jobs.1", "x", "jobs.*"}));
  PubSubEvent sub =
      parse_pubsub(Reply::array({Reply::string("psubscribe"), Reply::string("a*"), Reply::integer(2)}));
  EXPECT_EQ(sub.kind, PubSubEvent::Kind::subscribed);
  EXPECT_EQ(sub.name, "a*");
  EXPECT_EQ(sub.count, 2);
  EXPECT_EQ(
      parse_pubsub(Reply::array({Reply::string("unsubscribe"), Reply::string("a"), Reply::integer(0)})).kind,
      PubSubEvent::Kind::unsubscribed);
  EXPECT_EQ(parse_pubsub(Reply::status("OK")).kind, PubSubEvent::Kind::other);
  EXPECT_EQ(parse_pubsub(Reply::array({Reply::string("pong"), Reply::string("")})).kind,
            PubSubEvent::Kind::other);
}

TEST(RedisError, CodesHaveACategoryAndSayWhetherTheOutcomeIsKnown) {
  const std::error_code timeout = RedisError::timeout;
  EXPECT_STREQ(timeout.category().name(), "jobd.redis");
  EXPECT_EQ(timeout.message(), "redis command timed out");
  EXPECT_TRUE(outcome_unknown(timeout));
  EXPECT_TRUE(outcome_unknown(RedisError::connection_lost));
  EXPECT_FALSE(outcome_unknown(RedisError::unavailable));
  EXPECT_FALSE(outcome_unknown(RedisError::too_many_pending));
  EXPECT_FALSE(outcome_unknown(std::error_code()));
}
