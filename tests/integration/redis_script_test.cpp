// RedisScript against a real redis-server: EVALSHA, the EVAL fallback on NOSCRIPT (a first call,
// and after SCRIPT FLUSH, as after a Redis restart), and errors passed through untouched.
#include <gtest/gtest.h>

#include <array>

#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "store/redis/connection.hpp"
#include "store/redis/script.hpp"

using namespace jobd::store::redis;
using namespace jobd::testing;

namespace {

constexpr const char* kIncrementBy = "return redis.call('INCRBY', KEYS[1], ARGV[1])";

}  // namespace

TEST(RedisScriptTest, FallsBackToEvalOnNoscriptAndThenUsesEvalsha) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisConnection redis(loop.io.get_executor(), server.options());
  redis.start();
  ASSERT_FALSE(loop.await(redis.wait_ready(5s)));
  RedisScript script(kIncrementBy);
  // The SHA-1 computed here is the name Redis gives the script.
  EXPECT_EQ(server.admin({"SCRIPT", "LOAD", kIncrementBy}), Reply::string(script.sha1()));
  server.admin({"SCRIPT", "FLUSH"});
  const std::array<std::string_view, 1> keys{"counter"};
  const std::array<std::string_view, 1> args{"5"};
  auto [first, one] = loop.await(script.run(redis, keys, args));
  EXPECT_FALSE(first);
  EXPECT_EQ(one, Reply::integer(5));
  EXPECT_EQ(script.fallbacks(), 1u);  // unknown to Redis: EVAL, which also loaded it
  auto [second, two] = loop.await(script.run(redis, keys, args));
  EXPECT_EQ(two, Reply::integer(10));
  EXPECT_EQ(script.fallbacks(), 1u);  // EVALSHA found it
  server.admin({"SCRIPT", "FLUSH"});  // what a restart or a fail-over does to the cache
  auto [third, three] = loop.await(script.run(redis, keys, args));
  EXPECT_FALSE(third);
  EXPECT_EQ(three, Reply::integer(15));  // ran exactly once: NOSCRIPT means it had not run
  EXPECT_EQ(script.fallbacks(), 2u);
  EXPECT_EQ(server.admin({"SCRIPT", "EXISTS", script.sha1()}), Reply::array({Reply::integer(1)}));
}

TEST(RedisScriptTest, AScriptErrorIsReturnedAsIsWithoutAFallback) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisConnection redis(loop.io.get_executor(), server.options());
  redis.start();
  ASSERT_FALSE(loop.await(redis.wait_ready(5s)));
  RedisScript script("return redis.error_reply('CONFLICT attempt 2 is newer')");
  auto [ec, reply] = loop.await(script.run(redis, {}, {}));
  EXPECT_FALSE(ec);
  EXPECT_TRUE(reply.is_error_code("CONFLICT")) << describe(reply);
  auto [again, same] = loop.await(script.run(redis, {}, {}));
  EXPECT_TRUE(same.is_error_code("CONFLICT"));
  EXPECT_EQ(script.fallbacks(), 1u);  // only the first call, when Redis did not know it
}
