#include <gtest/gtest.h>

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
