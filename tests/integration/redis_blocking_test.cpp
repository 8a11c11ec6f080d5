// Blocking commands on a connection of their own: XREADGROUP ... BLOCK wakes up as soon as
// another connection adds an entry, and a BLOCK that runs out answers nil (not a timeout),
// because its command timeout is longer than the block (blocking_timeout).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>

#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "store/redis/connection.hpp"
#include "store/redis/error.hpp"

using namespace jobd::store::redis;
using namespace jobd::testing;

namespace {

Command claim(std::chrono::milliseconds block) {
  return Command::of("XREADGROUP", "GROUP", "jobd", "replica-1", "COUNT", 1, "BLOCK",
                     static_cast<std::int64_t>(block.count()), "STREAMS", "jobs:thread", ">");
}

}  // namespace

TEST(RedisBlockingTest, XreadgroupBlockReturnsWhenAnotherConnectionAddsAnEntry) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisOptions options = server.options();
  options.command_timeout = 500ms;  // far shorter than the block: blocking_timeout adds it
  RedisConnection commands(loop.io.get_executor(), options);
  RedisConnection claims(loop.io.get_executor(), options);
  commands.start();
  claims.start();
  ASSERT_FALSE(loop.await(commands.wait_ready(5s)));
  ASSERT_FALSE(loop.await(claims.wait_ready(5s)));
  auto [created, ok] =
      loop.await(commands.command(Command::of("XGROUP", "CREATE", "jobs:thread", "jobd", "$", "MKSTREAM")));
  ASSERT_EQ(ok, Reply::status("OK"));

  const auto block = std::chrono::milliseconds(5000);
  bool claimed = false;
  std::error_code claim_error;
  Reply claim_reply;
  const auto asked = Clock::now();
  claims.command(claim(block), blocking_timeout(block, options), [&](std::error_code ec, Reply reply) {
    claimed = true;
    claim_error = ec;
    claim_reply = std::move(reply);
  });
  loop.run_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(claimed) << "XREADGROUP should still be blocked";
  auto [added, id] = loop.await(commands.command(Command::of("XADD", "jobs:thread", "*", "job", "42")));
  ASSERT_TRUE(id.is_string()) << describe(id);
  loop.run_until([&] { return claimed; }, 3s, "the claim");
  EXPECT_LT(elapsed_ms(asked), 1500) << "woken by the XADD, not by the end of the block";
  EXPECT_FALSE(claim_error) << claim_error.message();
  const Reply expected = Reply::array({Reply::array(
      {Reply::string("jobs:thread"),
       Reply::array({Reply::array({id, Reply::array({Reply::string("job"), Reply::string("42")})})})})});
  EXPECT_EQ(claim_reply, expected) << describe(claim_reply);
  EXPECT_EQ(claims.health().timeouts, 0u);
}

TEST(RedisBlockingTest, ABlockThatRunsOutAnswersNilNotATimeout) {
  SKIP_WITHOUT_REDIS();
  RedisServer server;
  TestLoop loop;
  RedisOptions options = server.options();
  options.command_timeout = 300ms;
  RedisConnection claims(loop.io.get_executor(), options);
  claims.start();
  ASSERT_FALSE(loop.await(claims.wait_ready(5s)));
  server.admin({"XGROUP", "CREATE", "jobs:thread", "jobd", "$", "MKSTREAM"});
  const auto block = std::chrono::milliseconds(600);  // longer than the command timeout
  const auto asked = Clock::now();
  auto [ec, reply] = loop.await(claims.command(claim(block), blocking_timeout(block, options)));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(reply, Reply::nil());
  EXPECT_GE(elapsed_ms(asked), 590);
  EXPECT_EQ(claims.health().timeouts, 0u);
  // With the ordinary timeout instead, the same claim would be cut off and the connection reset.
  auto [cut, nothing] = loop.await(claims.command(claim(block)));
  EXPECT_EQ(cut, RedisError::timeout);
}
