// Command's RESP encoding, byte by byte: what hiredis will write to the socket.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>

#include "store/redis/command.hpp"

using jobd::store::redis::Command;
using namespace std::string_literals;

TEST(RedisCommand, EncodesEachArgumentAsALengthPrefixedBulkString) {
  EXPECT_EQ(Command::of("GET", "k").encoded(), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  EXPECT_EQ(Command::of("SET", "key", "").encoded(), "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n");
}

TEST(RedisCommand, IsBinarySafe) {
  const std::string value = "a\0b\r\n\xff"s;  // a NUL, a CRLF inside, a byte above 0x7f
  const Command command = Command::of("SET", "k\0"s, value);
  EXPECT_EQ(command.encoded(), "*3\r\n$3\r\nSET\r\n$2\r\nk\0\r\n$6\r\na\0b\r\n\xff\r\n"s);
}

TEST(RedisCommand, EncodesIntegersInDecimal) {
  EXPECT_EQ(Command::of("EXPIRE", "k", 30).encoded(), "*3\r\n$6\r\nEXPIRE\r\n$1\r\nk\r\n$2\r\n30\r\n");
  EXPECT_EQ(Command::of("INCRBY", "k", std::int64_t{-7}).encoded(),
            "*3\r\n$6\r\nINCRBY\r\n$1\r\nk\r\n$2\r\n-7\r\n");
  EXPECT_EQ(Command::of(std::uint64_t{18446744073709551615ull}).encoded(),
            "*1\r\n$20\r\n18446744073709551615\r\n");
}

TEST(RedisCommand, BuildsFromASpanOfViews) {
  const std::array<std::string_view, 3> args{"HSET", "job:1", "state"};
  const Command command{std::span<const std::string_view>(args)};
  EXPECT_EQ(command.size(), 3u);
  EXPECT_EQ(command.name(), "HSET");
  EXPECT_EQ(command.encoded(), "*3\r\n$4\r\nHSET\r\n$5\r\njob:1\r\n$5\r\nstate\r\n");
}

TEST(RedisCommand, AppendKeepsTheCountRight) {
  Command tail = Command::of(std::uint64_t{1});
  tail.arg("key").arg("arg");
  Command evalsha = Command::of("EVALSHA", "abc");
  evalsha.append(tail);
  EXPECT_EQ(evalsha.size(), 5u);
  EXPECT_EQ(evalsha.encoded(), "*5\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n1\r\n$3\r\nkey\r\n$3\r\narg\r\n");
}

TEST(RedisCommand, AnEmptyCommandEncodesNoArguments) {
  const Command command;
  EXPECT_TRUE(command.empty());
  EXPECT_EQ(command.encoded(), "*0\r\n");  // the session refuses it before hiredis sees it
}

TEST(RedisCommand, NameIsTheFirstArgumentOnlyNeverTheRest) {
  const Command auth = Command::of("AUTH", "user", "secret-password");
  EXPECT_EQ(auth.name(), "AUTH");
}
