// RedisSubscriber against a real redis-server: channel and pattern messages (binary payloads,
// in order), re-subscription after Redis restarts, and the probe of an idle subscribed connection.
#include <gtest/gtest.h>

#include <vector>

#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "store/redis/connection.hpp"
#include "store/redis/error.hpp"
#include "store/redis/subscriber.hpp"

using namespace jobd::store::redis;
using namespace jobd::testing;
using namespace std::string_literals;

TEST(RedisPubSubTest, DeliversChannelAndPatternMessagesInOrder) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  std::vector<PubSubMessage> received;
  RedisSubscriber events(loop.io.get_executor(), server.options(),
                         [&](const PubSubMessage& message) { received.push_back(message); });
  events.start();
  ASSERT_FALSE(loop.await(events.wait_ready(5s)));
  EXPECT_FALSE(loop.await(events.subscribe("jobd:events")));
  EXPECT_FALSE(loop.await(events.psubscribe("jobd:control:*")));
  RedisConnection publisher(loop.io.get_executor(), server.options());
  publisher.start();
  ASSERT_FALSE(loop.await(publisher.wait_ready(5s)));
  for (int i = 0; i < 100; ++i) {
    publisher.command(Command::of("PUBLISH", "jobd:events", "event " + std::to_string(i)), [](auto, auto) {});
  }
  auto [ec, receivers] =
      loop.await(publisher.command(Command::of("PUBLISH", "jobd:control:r1", "cancel\0 7"s)));
  EXPECT_EQ(receivers, Reply::integer(1));
  loop.run_until([&] { return received.size() == 101; }, 5s, "101 messages");
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(received[static_cast<std::size_t>(i)],
              (PubSubMessage{"jobd:events", "event " + std::to_string(i), ""}));
  }
  EXPECT_EQ(received[100], (PubSubMessage{"jobd:control:r1", "cancel\0 7"s, "jobd:control:*"}));
}

TEST(RedisPubSubTest, SubscribesAgainAfterRedisRestarts) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  std::vector<std::string> payloads;
  int connected = 0;
  RedisSubscriber events(loop.io.get_executor(), server.options(),
                         [&](const PubSubMessage& message) { payloads.push_back(message.payload); });
  events.on_connected([&] { ++connected; });
  events.start();
  ASSERT_FALSE(loop.await(events.wait_ready(5s)));
  ASSERT_FALSE(loop.await(events.subscribe("a")));
  ASSERT_FALSE(loop.await(events.psubscribe("b.*")));
  EXPECT_EQ(connected, 1);
  server.restart();  // a new Redis knows nothing of the subscriptions
  // While it is down (before the loop notices), and after: a subscription added meanwhile is
  // remembered too.
  const std::error_code while_down = loop.await(events.subscribe("c"));
  (void)while_down;  // unavailable or {} depending on whether the loss was seen yet
  loop.run_until([&] { return connected == 2; }, 5s, "re-subscribed");
  EXPECT_EQ(events.health().reconnects, 1u);
  // Redis confirms the three subscriptions plus the probe channel.
  const Reply numsub = server.admin({"PUBSUB", "NUMSUB", "a", "c"});
  EXPECT_EQ(numsub,
            Reply::array({Reply::string("a"), Reply::integer(1), Reply::string("c"), Reply::integer(1)}));
  EXPECT_EQ(server.admin({"PUBSUB", "NUMPAT"}), Reply::integer(1));
  server.admin({"PUBLISH", "a", "1"});
  server.admin({"PUBLISH", "b.x", "2"});
  server.admin({"PUBLISH", "c", "3"});
  loop.run_until([&] { return payloads.size() == 3; }, 5s, "3 messages");
  EXPECT_EQ(payloads, (std::vector<std::string>{"1", "2", "3"}));
}

TEST(RedisPubSubTest, AnIdleSubscriberToAStoppedServerIsProbedAndReset) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisOptions options = server.options();
  options.probe_interval = 200ms;
  options.command_timeout = 200ms;
  int received = 0;
  RedisSubscriber events(loop.io.get_executor(), options, [&](const PubSubMessage&) { ++received; });
  events.start();
  ASSERT_FALSE(loop.await(events.wait_ready(5s)));
  ASSERT_FALSE(loop.await(events.subscribe("x")));
  loop.run_for(500ms);  // idle but healthy: probes are answered
  EXPECT_EQ(events.health().timeouts, 0u);
  EXPECT_GE(events.health().commands, 2u);  // the subscription and at least one probe
  server.pause();
  loop.run_until([&] { return events.health().timeouts == 1; }, 3s, "the probe timing out");
  server.resume();
  loop.run_until([&] { return events.health().state == RedisState::connected; }, 5s, "reconnect");
  server.admin({"PUBLISH", "x", "after"});
  loop.run_until([&] { return received == 1; }, 5s, "a message after the reset");
}

TEST(RedisPubSubTest, ASubscriberWithoutThePasswordIsRefusedClearlyNotTimedOut) {
  SKIP_WITHOUT_REDIS();
  RedisServer server({}, "pubsub-pass");
  TestLoop loop;
  RedisOptions options = server.options();
  options.client_name.clear();  // nothing before the subscription but the PING
  RedisSubscriber events(loop.io.get_executor(), options, [](const PubSubMessage&) {});
  events.start();
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(loop.await(events.wait_ready(5s)), RedisError::auth_failed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, options.command_timeout);
  EXPECT_NE(events.health().last_error.find("NOAUTH"), std::string::npos) << events.health().last_error;
}
