// The store URI for Redis: both forms, their defaults, and the refusals (a password in the URI
// is refused without being repeated).
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "store/redis/uri.hpp"

using jobd::store::redis::parse_redis_uri;
using jobd::store::redis::RedisEndpoint;

namespace {

RedisEndpoint ok(std::string_view uri) {
  auto parsed = parse_redis_uri(uri);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << uri << ": " << *error;
    return {};
  }
  return std::get<RedisEndpoint>(parsed);
}

std::string refused(std::string_view uri) {
  auto parsed = parse_redis_uri(uri);
  if (auto* error = std::get_if<std::string>(&parsed)) return *error;
  ADD_FAILURE() << uri << " was accepted";
  return {};
}

}  // namespace

TEST(RedisUri, TcpWithDefaults) {
  const RedisEndpoint e = ok("redis://cache.internal");
  EXPECT_EQ(e.transport, RedisEndpoint::Transport::tcp);
  EXPECT_EQ(e.host, "cache.internal");
  EXPECT_EQ(e.port, 6379);
  EXPECT_EQ(e.db, 0);
  EXPECT_EQ(e.username, "");
  EXPECT_EQ(e.display(), "redis://cache.internal:6379/0");
}

TEST(RedisUri, TcpWithPortDatabaseAndUser) {
  const RedisEndpoint e = ok("redis://jobd@10.0.0.5:6380/3");
  EXPECT_EQ(e.host, "10.0.0.5");
  EXPECT_EQ(e.port, 6380);
  EXPECT_EQ(e.db, 3);
  EXPECT_EQ(e.username, "jobd");
  EXPECT_EQ(e.display(), "redis://jobd@10.0.0.5:6380/3");
  EXPECT_EQ(ok("redis://h:1/").db, 0);
}

TEST(RedisUri, Ipv6InBrackets) {
  const RedisEndpoint e = ok("redis://[::1]:7000/2");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 7000);
  EXPECT_EQ(e.display(), "redis://[::1]:7000/2");
  EXPECT_EQ(ok("redis://[fe80::1]").port, 6379);
}

TEST(RedisUri, UnixSocketWithOptionalDatabase) {
  const RedisEndpoint e = ok("redis+unix:///run/redis/redis.sock");
  EXPECT_EQ(e.transport, RedisEndpoint::Transport::unix_socket);
  EXPECT_EQ(e.path, "/run/redis/redis.sock");
  EXPECT_EQ(e.db, 0);
  EXPECT_EQ(e.display(), "redis+unix:///run/redis/redis.sock");
  const RedisEndpoint db = ok("redis+unix:///tmp/r.sock?db=5");
  EXPECT_EQ(db.path, "/tmp/r.sock");
  EXPECT_EQ(db.db, 5);
  EXPECT_EQ(db.display(), "redis+unix:///tmp/r.sock?db=5");
}

TEST(RedisUri, APasswordInTheUriIsRefusedWithoutRepeatingIt) {
  for (const char* uri : {"redis://:hunter2secret@host:6379/0", "redis://user:hunter2secret@host"}) {
    const std::string error = refused(uri);
    EXPECT_NE(error.find("JOBD_REDIS_PASSWORD"), std::string::npos) << error;
    EXPECT_EQ(error.find("hunter2secret"), std::string::npos) << error;
  }
}

TEST(RedisUri, MalformedUrisAreRefusedWithTheReason) {
  EXPECT_NE(refused("http://host").find("redis://HOST"), std::string::npos);
  EXPECT_NE(refused("rediss://host").find("TLS"), std::string::npos);
  EXPECT_NE(refused("redis://").find("no host"), std::string::npos);
  EXPECT_NE(refused("redis://host:").find("empty port"), std::string::npos);
  EXPECT_NE(refused("redis://host:0").find("port"), std::string::npos);
  EXPECT_NE(refused("redis://host:65536").find("port"), std::string::npos);
  EXPECT_NE(refused("redis://host:63x9").find("port"), std::string::npos);
  EXPECT_NE(refused("redis://host/db1").find("database"), std::string::npos);
  EXPECT_NE(refused("redis://host/-1").find("database"), std::string::npos);
  EXPECT_NE(refused("redis://host/1?x=2").find("database"), std::string::npos);
  EXPECT_NE(refused("redis://[::1").find("'['"), std::string::npos);
  EXPECT_NE(refused("redis://@host").find("user"), std::string::npos);
  EXPECT_NE(refused("redis+unix://host/tmp/r.sock").find("absolute path"), std::string::npos);
  EXPECT_NE(refused("redis+unix:///").find("socket path"), std::string::npos);
  EXPECT_NE(refused("redis+unix:///tmp/r.sock?database=1").find("db=N"), std::string::npos);
  EXPECT_NE(refused("redis+unix:///tmp/r.sock?db=x").find("db=N"), std::string::npos);
}
