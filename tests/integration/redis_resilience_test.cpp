// RedisConnection when Redis misbehaves: a stopped server (timeouts, then recovery by itself), a
// killed and restarted one (fail fast, then reconnect), and AUTH (right, wrong, missing).
#include <gtest/gtest.h>

#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "store/redis/connection.hpp"
#include "store/redis/error.hpp"

using namespace jobd::store::redis;
using namespace jobd::testing;

TEST(RedisResilienceTest, ACommandTimesOutWhileRedisIsStoppedAndTheConnectionRecoversByItself) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisOptions options = server.options();
  options.command_timeout = 300ms;
  options.connect_timeout = 300ms;
  RedisConnection redis(loop.io.get_executor(), options);
  redis.start();
  ASSERT_FALSE(loop.await(redis.wait_ready(5s)));
  server.pause();  // SIGSTOP: the socket stays open, nothing answers
  const auto sent = Clock::now();
  auto [ec, reply] = loop.await(redis.command(Command::of("SET", "k", "v")), 5s);
  const long long waited = elapsed_ms(sent);
  EXPECT_EQ(ec, RedisError::timeout);
  EXPECT_TRUE(outcome_unknown(ec));
  EXPECT_GE(waited, 290);
  EXPECT_LT(waited, 300 + 400) << "the timeout must fire within its bound";
  EXPECT_EQ(redis.health().timeouts, 1u);
  // The connection was reset: commands fail fast while it cannot set up a new one.
  const auto refused_at = Clock::now();
  auto [refused, refused_reply] = loop.await(redis.command(Command::of("GET", "k")));
  EXPECT_EQ(refused, RedisError::unavailable);
  EXPECT_LT(elapsed_ms(refused_at), 50);
  loop.run_for(700ms);  // attempts time out against the stopped server
  EXPECT_NE(redis.health().state, RedisState::connected);
  EXPECT_GE(redis.health().failed_attempts, 1u);
  server.resume();  // SIGCONT: no call from the test, the connection comes back by itself
  loop.run_until([&] { return redis.health().state == RedisState::connected; }, 5s, "reconnect");
  auto [after, value] = loop.await(redis.command(Command::of("PING")));
  EXPECT_FALSE(after) << after.message();
  EXPECT_EQ(value, Reply::status("PONG"));
  EXPECT_EQ(redis.health().reconnects, 1u);
}

TEST(RedisResilienceTest, AnIdleConnectionToAStoppedServerIsProbedAndReset) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisOptions options = server.options();
  options.probe_interval = 200ms;
  options.command_timeout = 200ms;
  RedisConnection redis(loop.io.get_executor(), options);
  redis.start();
  ASSERT_FALSE(loop.await(redis.wait_ready(5s)));
  server.pause();
  // No command from the test: the PING probe of an idle connection finds the stall.
  loop.run_until([&] { return redis.health().timeouts == 1; }, 3s, "a probe timing out");
  EXPECT_NE(redis.health().state, RedisState::connected);
  server.resume();
  loop.run_until([&] { return redis.health().state == RedisState::connected; }, 5s, "reconnect");
}

TEST(RedisResilienceTest, FailsFastWhileRedisIsDownAndReconnectsWhenItIsBack) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  CapturedLog log;
  RedisOptions options = server.options();
  options.logger = log.logger;
  RedisConnection redis(loop.io.get_executor(), options);
  redis.start();
  ASSERT_FALSE(loop.await(redis.wait_ready(5s)));
  auto [set, set_reply] = loop.await(redis.command(Command::of("SET", "k", "v")));
  ASSERT_FALSE(set);
  server.kill();
  loop.run_until([&] { return redis.health().state != RedisState::connected; }, 2s, "loss noticed");
  for (int i = 0; i < 5; ++i) {  // meanwhile: refused at once, never queued
    const auto sent = Clock::now();
    auto [ec, reply] = loop.await(redis.command(Command::of("GET", "k")));
    EXPECT_EQ(ec, RedisError::unavailable);
    EXPECT_LT(elapsed_ms(sent), 50);
    loop.run_for(60ms);
  }
  EXPECT_GE(redis.health().failed_attempts, 1u);
  EXPECT_NE(redis.health().last_error.find("127.0.0.1"), std::string::npos) << redis.health().last_error;
  server.restart();
  loop.run_until([&] { return redis.health().state == RedisState::connected; }, 5s, "reconnect");
  auto [ec, reply] = loop.await(redis.command(Command::of("SET", "k", "again")));
  EXPECT_FALSE(ec);
  EXPECT_EQ(reply, Reply::status("OK"));
  EXPECT_EQ(redis.health().reconnects, 1u);
  EXPECT_EQ(redis.health().connects, 2u);
  EXPECT_NE(log.text().find("connection lost"), std::string::npos) << log.text();
  EXPECT_NE(log.text().find("reconnected after"), std::string::npos) << log.text();
}

TEST(RedisResilienceTest, AuthenticatesWithThePasswordAndAgainAfterAReconnect) {
  SKIP_WITHOUT_REDIS();
  const std::string password = "correct-horse-7Qx";
  RedisServer server({}, password);
  TestLoop loop;
  RedisConnection redis(loop.io.get_executor(), server.options(password));
  redis.start();
  ASSERT_FALSE(loop.await(redis.wait_ready(5s))) << redis.health().last_error;
  auto [ec, reply] = loop.await(redis.command(Command::of("SET", "k", "v")));
  EXPECT_FALSE(ec);
  EXPECT_EQ(reply, Reply::status("OK"));
  server.admin({"CLIENT", "KILL", "TYPE", "normal"});
  loop.run_until(
      [&] { return redis.health().reconnects == 1 && redis.health().state == RedisState::connected; }, 5s);
  auto [again, value] = loop.await(redis.command(Command::of("GET", "k")));
  EXPECT_EQ(value, Reply::string("v"));
}

TEST(RedisResilienceTest, AWrongPasswordIsAClearErrorThatNeverShowsThePassword) {
  SKIP_WITHOUT_REDIS();
  RedisServer server({}, "the-right-one");
  TestLoop loop;
  CapturedLog log;
  const std::string wrong = "wrong-Pa55word-zz";
  RedisOptions options = server.options(wrong);
  options.logger = log.logger;
  RedisConnection redis(loop.io.get_executor(), options);
  redis.start();
  const std::error_code ec = loop.await(redis.wait_ready(5s));
  EXPECT_EQ(ec, RedisError::auth_failed);
  const RedisHealth health = redis.health();
  EXPECT_NE(health.last_error.find("AUTH failed"), std::string::npos) << health.last_error;
  EXPECT_NE(health.last_error.find("WRONGPASS"), std::string::npos) << health.last_error;
  auto [command_ec, reply] = loop.await(redis.command(Command::of("PING")));
  EXPECT_EQ(command_ec, RedisError::unavailable);
  loop.run_for(300ms);  // a few more attempts, each logged or counted
  EXPECT_GE(redis.health().failed_attempts, 2u);
  for (const std::string& text : {health.last_error, ec.message(), command_ec.message(), log.text()}) {
    EXPECT_EQ(text.find(wrong), std::string::npos) << text;
  }
  EXPECT_NE(log.text().find("WRONGPASS"), std::string::npos) << log.text();
}

TEST(RedisResilienceTest, AMissingPasswordSaysWhereToGiveOne) {
  SKIP_WITHOUT_REDIS();
  RedisServer server({}, "required-pass");
  TestLoop loop;
  RedisConnection redis(loop.io.get_executor(), server.options());
  redis.start();
  EXPECT_EQ(loop.await(redis.wait_ready(5s)), RedisError::auth_failed);
  EXPECT_NE(redis.health().last_error.find("NOAUTH"), std::string::npos) << redis.health().last_error;
  EXPECT_NE(redis.health().last_error.find("JOBD_REDIS_PASSWORD"), std::string::npos)
      << redis.health().last_error;
}

TEST(RedisResilienceTest, ARefusedConnectionIsReportedAndRetried) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisOptions options = server.options();
  server.kill();  // nothing listens on the port any more
  RedisConnection redis(loop.io.get_executor(), options);
  redis.start();
  EXPECT_EQ(loop.await(redis.wait_ready(5s)), RedisError::connect_failed);
  EXPECT_NE(redis.health().last_error.find("refused"), std::string::npos) << redis.health().last_error;
  loop.run_for(300ms);
  EXPECT_GE(redis.health().failed_attempts, 2u);
  server.restart();
  loop.run_until([&] { return redis.health().state == RedisState::connected; }, 5s, "connect");
  EXPECT_EQ(redis.health().connects, 1u);
  EXPECT_EQ(redis.health().reconnects, 0u);
}
