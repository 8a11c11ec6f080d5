#include <gtest/gtest.h>

#include "config/checks.hpp"
#include "config/units.hpp"

using namespace jobd::config;
using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsEverySuffixAndBareSeconds) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("5s"), milliseconds(5000));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3600000));
  EXPECT_EQ(parse_duration("7"), milliseconds(7000));
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
}

TEST(ParseDuration, RefusesGarbageNegativeAndUnknownUnits) {
  for (const char* bad : {"", "s", "-1s", "5x", "five", "1e400", "nan", "5 parsecs"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(ParseSize, AcceptsBinarySuffixesAndBytes) {
  EXPECT_EQ(parse_size("512k"), 512u * 1024);
  EXPECT_EQ(parse_size("1m"), 1024u * 1024);
  EXPECT_EQ(parse_size("1MiB"), 1024u * 1024);
  EXPECT_EQ(parse_size("2g"), 2ull * 1024 * 1024 * 1024);
  EXPECT_EQ(parse_size("100"), 100u);
  EXPECT_EQ(parse_size("1.5k"), 1536u);
}

TEST(ParseSize, RefusesFractionsOfBytesAndGarbage) {
  for (const char* bad : {"", "k", "-1", "1.5", "12q", "lots"}) {
    EXPECT_FALSE(parse_size(bad).has_value()) << bad;
  }
}

TEST(ParseListen, ReadsV4V6AndEphemeralPorts) {
  auto v4 = parse_listen("127.0.0.1:8080");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);
  auto v6 = parse_listen("[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
}

TEST(ParseListen, RefusesMissingPortsBadPortsAndBareV6) {
  for (const char* bad :
       {"127.0.0.1", ":8080", "127.0.0.1:", "127.0.0.1:70000", "::1:80", "[::1]8080", "h:p"}) {
    EXPECT_FALSE(parse_listen(bad).has_value()) << bad;
  }
}

TEST(FormatUnits, SpellsValuesShortestAndRoundTrips) {
  EXPECT_EQ(format_duration(milliseconds(10000)), "10s");
  EXPECT_EQ(format_duration(milliseconds(120000)), "2m");
  EXPECT_EQ(format_duration(milliseconds(3600000)), "1h");
  EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(milliseconds(0)), "0s");
  EXPECT_EQ(format_size(1 << 20), "1m");
  EXPECT_EQ(format_size(16 << 10), "16k");
  EXPECT_EQ(format_size(1000), "1000");
  for (auto ms : {1, 999, 1000, 61000, 7200000}) {
    EXPECT_EQ(parse_duration(format_duration(milliseconds(ms))), milliseconds(ms));
  }
}

TEST(CheckConfig, TheDefaultsPass) { EXPECT_EQ(check_config(Config{}), std::nullopt); }

TEST(CheckConfig, DurationsBeyondTheirBoundsAreRefusedNamingTheFlagNotWrapped) {
  // 3,000,000 h overflows a steady_clock time point in nanoseconds (~2.56 M h): it must be
  // refused, not turned into a deadline in the past.
  for (const auto& bound : duration_bounds()) {
    Config config;
    config.*bound.field = bound.max + milliseconds(1);
    // (The maximum timeout must stay at or above the default, or that check fires instead.)
    if (std::string_view(bound.flag) == "--default-timeout") config.max_timeout = bound.max;
    const auto problem = check_config(config);
    ASSERT_TRUE(problem) << bound.flag;
    EXPECT_NE(problem->find(bound.flag), std::string::npos) << *problem;
    config.*bound.field = bound.max;
    if (std::string_view(bound.flag) == "--max-timeout") config.default_timeout = bound.max;
    EXPECT_EQ(check_config(config), std::nullopt) << bound.flag;
  }
  Config huge;
  huge.retention = std::chrono::hours(3'000'000);
  EXPECT_TRUE(check_config(huge));
}

TEST(CheckConfig, ZeroIsRefusedWhereItWouldBreakTheService) {
  for (auto field : {&Config::sse_heartbeat, &Config::slow_handler, &Config::default_timeout,
                     &Config::header_timeout, &Config::idle_timeout}) {
    Config config;
    config.*field = milliseconds(0);
    EXPECT_TRUE(check_config(config));
  }
  Config drain_now;  // 0 is meaningful here: cancel at once
  drain_now.drain_timeout = milliseconds(0);
  drain_now.kill_grace = milliseconds(0);
  drain_now.max_wait = milliseconds(0);
  EXPECT_EQ(check_config(drain_now), std::nullopt);
}

TEST(CheckConfig, DefaultTimeoutAboveTheMaximumIsRefused) {
  Config config;
  config.default_timeout = std::chrono::minutes(10);
  config.max_timeout = std::chrono::minutes(1);
  const auto problem = check_config(config);
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("--default-timeout"), std::string::npos);
  EXPECT_NE(problem->find("--max-timeout"), std::string::npos);
}

TEST(CheckConfig, HeaderLimitBelowARequestLineIsRefused) {
  Config config;
  config.max_header = 1;
  EXPECT_TRUE(check_config(config));
  config.max_header = kMinHeaderBytes;
  EXPECT_EQ(check_config(config), std::nullopt);
}

TEST(CheckConfig, AStoreIsMemoryASqlitePathOrRedisAndAnythingElseIsRefusedNamingTheFlag) {
  EXPECT_EQ(check_store_uri("memory:"), std::nullopt);
  EXPECT_EQ(check_store_uri("redis://127.0.0.1:6379/2"), std::nullopt);
  EXPECT_EQ(check_store_uri("redis+unix:///run/redis.sock"), std::nullopt);
  EXPECT_EQ(check_store_uri("sqlite:jobd.db"), std::nullopt);
  EXPECT_EQ(check_store_uri("sqlite:/var/lib/jobd/jobd.db"), std::nullopt);
  for (const char* bad : {"sqlite:", "rediss://x", "jobd.db", "", "memory"}) {
    const auto problem = check_store_uri(bad);
    ASSERT_TRUE(problem) << bad;
    EXPECT_NE(problem->find("--store"), std::string::npos) << *problem;
  }
  Config config;
  config.store = "nope:";
  ASSERT_TRUE(check_config(config));
  EXPECT_NE(check_config(config)->find("--store"), std::string::npos);
}
