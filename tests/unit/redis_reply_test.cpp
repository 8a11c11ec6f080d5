// Replies: RESP bytes through hiredis's own reader (no socket) into jobd's Reply, and the Reply
// accessors the store will use.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <string>

#include "store/redis/hiredis_reply.hpp"
#include "store/redis/reply.hpp"

using jobd::store::redis::describe;
using jobd::store::redis::from_hiredis;
using jobd::store::redis::Reply;
using namespace std::string_literals;

namespace jobd::store::redis {
void PrintTo(const Reply& reply, std::ostream* out) { *out << describe(reply); }
}  // namespace jobd::store::redis

namespace {

// Feeds `bytes` to a hiredis reader and converts the one reply it yields.
Reply parse(const std::string& bytes) {
  std::unique_ptr<redisReader, decltype(&redisReaderFree)> reader(redisReaderCreate(), &redisReaderFree);
  EXPECT_EQ(redisReaderFeed(reader.get(), bytes.data(), bytes.size()), REDIS_OK);
  void* raw = nullptr;
  EXPECT_EQ(redisReaderGetReply(reader.get(), &raw), REDIS_OK);
  EXPECT_NE(raw, nullptr) << "incomplete reply";
  if (raw == nullptr) return Reply::error("incomplete");
  Reply reply = from_hiredis(*static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return reply;
}

}  // namespace

TEST(RedisReply, ConvertsEveryRespType) {
  EXPECT_EQ(parse("$-1\r\n"), Reply::nil());
  EXPECT_EQ(parse("*-1\r\n"), Reply::nil());  // a nil array (BLPOP timing out)
  EXPECT_EQ(parse(":42\r\n"), Reply::integer(42));
  EXPECT_EQ(parse(":-9223372036854775808\r\n"), Reply::integer(INT64_MIN));
  EXPECT_EQ(parse("+OK\r\n"), Reply::status("OK"));
  EXPECT_EQ(parse("-ERR unknown command 'FOO'\r\n"), Reply::error("ERR unknown command 'FOO'"));
  EXPECT_EQ(parse("$5\r\nhello\r\n"), Reply::string("hello"));
  EXPECT_EQ(parse("$0\r\n\r\n"), Reply::string(""));
  EXPECT_EQ(parse("*0\r\n"), Reply::array({}));
}

TEST(RedisReply, StringsKeepNulAndCrlfBytes) {
  EXPECT_EQ(parse("$6\r\na\0b\r\n\xff\r\n"s), Reply::string("a\0b\r\n\xff"s));
}

TEST(RedisReply, NestedArraysKeepOrderAndTypes) {
  // An XREADGROUP reply: [[stream, [[id, [field, value]]]]], with a nil inside.
  const std::string bytes =
      "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
      "";
  const Reply expected = Reply::array({Reply::array(
      {Reply::string("s"),
       Reply::array({Reply::array(
           {Reply::string("1-0"), Reply::array({Reply::string("f"), Reply::string("v")})})})})});
  EXPECT_EQ(parse(bytes), expected);
  EXPECT_EQ(parse("*3\r\n:1\r\n$-1\r\n+QUEUED\r\n"),
            Reply::array({Reply::integer(1), Reply::nil(), Reply::status("QUEUED")}));
}

TEST(RedisReply, TypedAccessorsAnswerOnlyForTheirType) {
  const Reply n = Reply::integer(7);
  EXPECT_TRUE(n.is_integer());
  EXPECT_EQ(n.as_integer(), 7);
  EXPECT_EQ(n.as_string(), nullptr);
  const Reply s = Reply::string("x");
  EXPECT_FALSE(s.as_integer().has_value());
  ASSERT_NE(s.as_string(), nullptr);
  EXPECT_EQ(*s.as_string(), "x");
  EXPECT_EQ(Reply::status("OK").text(), "OK");
  EXPECT_EQ(Reply::nil().text(), "");
  EXPECT_TRUE(Reply().is_nil());
}

TEST(RedisReply, ErrorCodeIsTheFirstWordOfAnErrorReply) {
  const Reply noscript = Reply::error("NOSCRIPT No matching script. Please use EVAL.");
  EXPECT_TRUE(noscript.is_error_code("NOSCRIPT"));
  EXPECT_FALSE(noscript.is_error_code("NOSCRIPTS"));
  EXPECT_FALSE(noscript.is_error_code("NO"));
  EXPECT_TRUE(Reply::error("BUSYGROUP").is_error_code("BUSYGROUP"));
  EXPECT_FALSE(Reply::string("NOSCRIPT x").is_error_code("NOSCRIPT"));
}

TEST(RedisReply, DescribeRendersLikeRedisCli) {
  EXPECT_EQ(describe(Reply::nil()), "(nil)");
  EXPECT_EQ(describe(Reply::integer(3)), "(integer) 3");
  EXPECT_EQ(describe(Reply::error("ERR x")), "(error) ERR x");
  EXPECT_EQ(describe(Reply::string("a\0\"b"s)), R"("a\x00\"b")");
  EXPECT_EQ(describe(Reply::array({})), "(empty array)");
  EXPECT_EQ(describe(Reply::array({Reply::string("a"), Reply::array({Reply::integer(1), Reply::nil()})})),
            "1) \"a\"\n2) 1) (integer) 1\n   2) (nil)");
}
