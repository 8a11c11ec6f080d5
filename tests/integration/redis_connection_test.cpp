// RedisConnection against a real redis-server: every reply type, pipelining, binary safety,
// SELECT, the unix socket, and the refusals that never reach Redis.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <vector>

#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "store/redis/connection.hpp"
#include "store/redis/error.hpp"

using namespace jobd::store::redis;
using namespace jobd::testing;
using boost::asio::awaitable;
using Result = std::tuple<std::error_code, Reply>;
using namespace std::string_literals;

namespace {

// Connects `redis` and runs `command` on it.
Reply run(TestLoop& loop, RedisConnection& redis, const Command& command) {
  auto [ec, reply] = loop.await(redis.command(command));
  EXPECT_FALSE(ec) << command.name() << ": " << ec.message();
  return reply;
}

void connect(TestLoop& loop, RedisConnection& redis) {
  redis.start();
  const std::error_code ec = loop.await(redis.wait_ready(5s));
  ASSERT_FALSE(ec) << ec.message() << " / " << redis.health().last_error;
}

}  // namespace

TEST(RedisConnectionTest, EveryReplyTypeRoundTrips) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisConnection redis(loop.io.get_executor(), server.options());
  connect(loop, redis);
  EXPECT_EQ(run(loop, redis, Command::of("SET", "k", "v")), Reply::status("OK"));
  EXPECT_EQ(run(loop, redis, Command::of("GET", "k")), Reply::string("v"));
  EXPECT_EQ(run(loop, redis, Command::of("GET", "missing")), Reply::nil());
  EXPECT_EQ(run(loop, redis, Command::of("SET", "empty", "")), Reply::status("OK"));
  EXPECT_EQ(run(loop, redis, Command::of("GET", "empty")), Reply::string(""));
  EXPECT_EQ(run(loop, redis, Command::of("INCRBY", "n", -5)), Reply::integer(-5));
  const Reply error = run(loop, redis, Command::of("NOSUCHCOMMAND", "x"));
  EXPECT_TRUE(error.is_error()) << describe(error);
  EXPECT_TRUE(error.is_error_code("ERR")) << describe(error);
  EXPECT_EQ(run(loop, redis, Command::of("RPUSH", "list", "a", "b")), Reply::integer(2));
  EXPECT_EQ(run(loop, redis, Command::of("LRANGE", "list", 0, -1)),
            Reply::array({Reply::string("a"), Reply::string("b")}));
  EXPECT_EQ(run(loop, redis, Command::of("LRANGE", "nolist", 0, -1)), Reply::array({}));
  EXPECT_EQ(run(loop, redis, Command::of("MGET", "k", "missing")),
            Reply::array({Reply::string("v"), Reply::nil()}));
  // Nested arrays with every type inside, from Lua.
  const Reply nested = run(
      loop, redis, Command::of("EVAL", "return {1, 'two', {3, {'four'}}, redis.status_reply('FINE')}", 0));
  EXPECT_EQ(nested, Reply::array({Reply::integer(1), Reply::string("two"),
                                  Reply::array({Reply::integer(3), Reply::array({Reply::string("four")})}),
                                  Reply::status("FINE")}))
      << describe(nested);
  EXPECT_EQ(run(loop, redis, Command::of("EVAL", "return redis.error_reply('MYCODE went wrong')", 0)),
            Reply::error("MYCODE went wrong"));
  EXPECT_GE(redis.health().commands, 14u);
  EXPECT_GT(redis.health().last_rtt.count(), 0);
}

TEST(RedisConnectionTest, TenThousandPipelinedCommandsCompleteInOrder) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisConnection redis(loop.io.get_executor(), server.options());
  connect(loop, redis);
  constexpr int kCommands = 10'000;
  std::vector<std::int64_t> replies(kCommands, 0);
  int done = 0;
  int errors = 0;
  const Command incr = Command::of("INCR", "counter");
  // All sent before the first reply is read: each INCR's reply must be its own position + 1.
  for (int i = 0; i < kCommands; ++i) {
    redis.command(incr, [&, i](std::error_code ec, const Reply& reply) {
      ++done;
      if (ec) ++errors;
      replies[static_cast<std::size_t>(i)] = reply.as_integer().value_or(-1);
    });
  }
  EXPECT_EQ(redis.health().in_flight, static_cast<std::size_t>(kCommands));
  loop.run_until([&] { return done == kCommands; }, 20s);
  EXPECT_EQ(errors, 0);
  for (int i = 0; i < kCommands; ++i) ASSERT_EQ(replies[static_cast<std::size_t>(i)], i + 1) << "reply " << i;
  EXPECT_EQ(redis.health().in_flight_peak, static_cast<std::size_t>(kCommands));
  EXPECT_EQ(redis.health().in_flight, 0u);
  // The same through coroutines, which is how the store will call it.
  int coroutines_done = 0;
  for (int i = 0; i < 1000; ++i) {
    boost::asio::co_spawn(
        loop.io,
        [&, i]() -> awaitable<void> {
          const Command get = Command::of("INCR", "other");
          auto [ec, reply] = co_await redis.command(get);
          EXPECT_EQ(reply.as_integer(), i + 1);
          ++coroutines_done;
        },
        boost::asio::detached);
  }
  loop.run_until([&] { return coroutines_done == 1000; }, 20s);
}

TEST(RedisConnectionTest, KeysAndValuesAreBinarySafe) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisConnection redis(loop.io.get_executor(), server.options());
  connect(loop, redis);
  const std::string key = "job\0key\r\n"s;
  std::string value;
  for (int b = 0; b < 256; ++b) value += static_cast<char>(b);  // every byte, NUL and CRLF included
  EXPECT_EQ(run(loop, redis, Command::of("SET", key, value)), Reply::status("OK"));
  EXPECT_EQ(run(loop, redis, Command::of("GET", key)), Reply::string(value));
  EXPECT_EQ(run(loop, redis, Command::of("GET", "job")), Reply::nil());  // not cut at the NUL
  EXPECT_EQ(run(loop, redis, Command::of("STRLEN", key)), Reply::integer(256));
  EXPECT_EQ(run(loop, redis, Command::of("HSET", "h", "f\0"s, "\0v"s)), Reply::integer(1));
  EXPECT_EQ(run(loop, redis, Command::of("HGETALL", "h")),
            Reply::array({Reply::string("f\0"s), Reply::string("\0v"s)}));
  const std::array<std::string_view, 3> args{"SET", "viewed", std::string_view("a\0b", 3)};
  auto [ec, reply] = loop.await(redis.command(std::span<const std::string_view>(args)));
  EXPECT_FALSE(ec);
  EXPECT_EQ(server.admin({"GET", "viewed"}), Reply::string("a\0b"s));
}

TEST(RedisConnectionTest, SelectsTheDatabaseOfTheUriAgainAfterAReconnect) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisOptions options = server.options();
  options.endpoint.db = 3;
  RedisConnection redis(loop.io.get_executor(), options);
  connect(loop, redis);
  EXPECT_EQ(run(loop, redis, Command::of("SET", "where", "db3")), Reply::status("OK"));
  EXPECT_EQ(server.admin({"GET", "where"}), Reply::nil());  // db 0
  EXPECT_EQ(server.admin({"SELECT", "3"}), Reply::status("OK"));
  // Redis drops the connection (as a fail-over would): the new one must SELECT 3 again.
  server.admin({"CLIENT", "KILL", "TYPE", "normal"});
  loop.run_until(
      [&] { return redis.health().reconnects == 1 && redis.health().state == RedisState::connected; }, 5s);
  EXPECT_EQ(run(loop, redis, Command::of("GET", "where")), Reply::string("db3"));
  const Reply info = run(loop, redis, Command::of("CLIENT", "INFO"));
  EXPECT_NE(info.text().find(" db=3 "), std::string_view::npos) << info.text();
  EXPECT_NE(info.text().find(" name=jobd-test "), std::string_view::npos) << info.text();
}

TEST(RedisConnectionTest, ConnectsOverAUnixSocket) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisOptions options = server.options();
  options.endpoint = std::get<RedisEndpoint>(parse_redis_uri(server.unix_uri(2)));
  RedisConnection redis(loop.io.get_executor(), options);
  connect(loop, redis);
  EXPECT_EQ(run(loop, redis, Command::of("SET", "over", "unix")), Reply::status("OK"));
  EXPECT_EQ(server.admin({"SELECT", "2"}), Reply::status("OK"));
  EXPECT_NE(run(loop, redis, Command::of("CLIENT", "INFO")).text().find(" db=2 "), std::string_view::npos);
}

TEST(RedisConnectionTest, RefusesWhatCannotBeSentWithoutReachingRedis) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisOptions options = server.options();
  options.max_in_flight = 10;
  RedisConnection redis(loop.io.get_executor(), options);
  // Before start(): not connected.
  auto [early, early_reply] = loop.await(redis.command(Command::of("PING")));
  EXPECT_EQ(early, RedisError::unavailable);
  connect(loop, redis);
  auto [empty, empty_reply] = loop.await(redis.command(Command()));
  EXPECT_EQ(empty, RedisError::invalid_command);
  // The in-flight bound: the 11th command is refused at once, the first 10 complete.
  int ok = 0, refused = 0;
  for (int i = 0; i < 15; ++i) {
    redis.command(Command::of("PING"), [&](std::error_code ec, const Reply&) {
      if (!ec) ++ok;
      if (ec == RedisError::too_many_pending) ++refused;
    });
  }
  loop.run_until([&] { return ok + refused == 15; }, 5s);
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(refused, 5);
  // stop(): in flight completes with connection_lost, later commands with stopped.
  std::error_code in_flight;
  redis.command(Command::of("PING"), [&](std::error_code ec, const Reply&) { in_flight = ec; });
  redis.stop();
  auto [after, after_reply] = loop.await(redis.command(Command::of("PING")));
  EXPECT_EQ(after, RedisError::stopped);
  EXPECT_EQ(in_flight, RedisError::connection_lost);
  EXPECT_EQ(redis.health().state, RedisState::stopped);
}

TEST(RedisConnectionTest, AReplyNestedDeeperThanHiredisReadsResetsTheConnection) {
  // A hiredis 0.14 limit, shown here so the store keeps its replies shallow: its reader takes
  // arrays nested 8 deep but not 9 ("No support for nested multi bulk replies with depth > 7"),
  // and that protocol error closes the connection. XREADGROUP and XAUTOCLAIM replies are 3-4 deep.
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisConnection redis(loop.io.get_executor(), server.options());
  connect(loop, redis);
  EXPECT_EQ(run(loop, redis, Command::of("EVAL", "return {{{{{{{{1}}}}}}}}", 0)).is_array(), true);  // 8 deep
  auto [ec, reply] =
      loop.await(redis.command(Command::of("EVAL", "return {{{{{{{{{1}}}}}}}}}", 0)));  // 9 deep
  EXPECT_EQ(ec, RedisError::connection_lost) << describe(reply);
  EXPECT_NE(redis.health().last_error.find("nested"), std::string::npos) << redis.health().last_error;
  loop.run_until([&] { return redis.health().state == RedisState::connected; }, 5s, "reconnect");
  EXPECT_EQ(run(loop, redis, Command::of("PING")), Reply::status("PONG"));
}
