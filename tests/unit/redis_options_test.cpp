// The Redis password's sources (JOBD_REDIS_PASSWORD, JOBD_REDIS_PASSWORD_FILE) and their
// refusals, which name the variable or the file but never the content.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <variant>

#include "store/redis/options.hpp"

using namespace jobd::store::redis;

namespace {

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/jobd-redis-password-XXXXXX";
    const int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    ::close(fd);
    path = name;
    std::ofstream(path, std::ios::binary) << content;
  }
  ~TempFile() { ::unlink(path.c_str()); }
};

std::string error_of(const LoadedPassword& loaded) {
  const auto* error = std::get_if<std::string>(&loaded);
  return error ? *error : "";
}

}  // namespace

TEST(RedisPassword, NoneGivenMeansNoAuth) {
  const LoadedPassword loaded = load_redis_password(nullptr, nullptr);
  ASSERT_TRUE(std::holds_alternative<Secret>(loaded));
  EXPECT_TRUE(std::get<Secret>(loaded).empty());
}

TEST(RedisPassword, FromTheVariable) {
  const LoadedPassword loaded = load_redis_password("s3cret", nullptr);
  ASSERT_TRUE(std::holds_alternative<Secret>(loaded));
  EXPECT_EQ(std::get<Secret>(loaded).reveal(), "s3cret");
}

TEST(RedisPassword, FromAFileWithoutItsTrailingNewline) {
  const TempFile file("from-a-file\n");
  const LoadedPassword loaded = load_redis_password(nullptr, file.path.c_str());
  ASSERT_TRUE(std::holds_alternative<Secret>(loaded)) << error_of(loaded);
  EXPECT_EQ(std::get<Secret>(loaded).reveal(), "from-a-file");
}

TEST(RedisPassword, RefusalsNameTheSourceNotTheSecret) {
  const TempFile file("file-secret");
  const std::string both = error_of(load_redis_password("var-secret", file.path.c_str()));
  EXPECT_NE(both.find("not both"), std::string::npos);
  EXPECT_EQ(both.find("var-secret"), std::string::npos);
  EXPECT_EQ(both.find("file-secret"), std::string::npos);
  EXPECT_NE(error_of(load_redis_password("", nullptr)).find("empty"), std::string::npos);
  const std::string missing = error_of(load_redis_password(nullptr, "/nonexistent/jobd-password"));
  EXPECT_NE(missing.find("/nonexistent/jobd-password"), std::string::npos);
  const TempFile empty("\n");
  EXPECT_NE(error_of(load_redis_password(nullptr, empty.path.c_str())).find("empty"), std::string::npos);
}

TEST(RedisPassword, ReadsTheEnvironment) {
  ::setenv("JOBD_REDIS_PASSWORD", "env-secret", 1);
  ::unsetenv("JOBD_REDIS_PASSWORD_FILE");
  const LoadedPassword loaded = load_redis_password_from_environment();
  ::unsetenv("JOBD_REDIS_PASSWORD");
  ASSERT_TRUE(std::holds_alternative<Secret>(loaded));
  EXPECT_EQ(std::get<Secret>(loaded).reveal(), "env-secret");
}

TEST(RedisOptions, DefaultsAreTheNamedLimits) {
  const RedisOptions options;
  EXPECT_EQ(options.command_timeout, kDefaultCommandTimeout);
  EXPECT_EQ(options.connect_timeout, kDefaultConnectTimeout);
  EXPECT_EQ(options.backoff_min, milliseconds(50));
  EXPECT_EQ(options.backoff_max, milliseconds(2000));
  EXPECT_EQ(options.max_in_flight, kDefaultMaxInFlight);
  EXPECT_EQ(blocking_timeout(milliseconds(5000), options), milliseconds(6000));
}
