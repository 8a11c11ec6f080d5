#include "args.hpp"

#include <gtest/gtest.h>

using namespace jobd::jobctl;
using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsUnitsAndBareSeconds) {
  std::string error;
  EXPECT_EQ(parse_duration("250ms", error), 250ms);
  EXPECT_EQ(parse_duration("1.5s", error), 1500ms);
  EXPECT_EQ(parse_duration("2m", error), 120000ms);
  EXPECT_EQ(parse_duration("1h", error), 3600000ms);
  EXPECT_EQ(parse_duration("30", error), 30000ms);
  EXPECT_EQ(parse_duration("0", error), 0ms);
  for (const char* bad : {"", "-1s", "s", "5 s", "3d", "1e3"}) {
    EXPECT_FALSE(parse_duration(bad, error)) << bad;
  }
}

TEST(ApplyParam, ParsesJsonValuesAndFallsBackToText) {
  nlohmann::json params = nlohmann::json::object();
  std::string error;
  ASSERT_TRUE(apply_param(params, "n=1000", error));
  ASSERT_TRUE(apply_param(params, "name=world", error));
  ASSERT_TRUE(apply_param(params, "flag=true", error));
  ASSERT_TRUE(apply_param(params, "quoted=\"7\"", error));
  ASSERT_TRUE(apply_param(params, "zip=007", error));
  ASSERT_TRUE(apply_param(params, "nested.depth=2", error));
  ASSERT_TRUE(apply_param(params, "eq=a=b", error));
  EXPECT_EQ(params, nlohmann::json({{"n", 1000},
                                    {"name", "world"},
                                    {"flag", true},
                                    {"quoted", "7"},
                                    {"zip", "007"},
                                    {"nested", {{"depth", 2}}},
                                    {"eq", "a=b"}}));
  for (const char* bad : {"novalue", "=1", "a..b=1", "a.=1"}) {
    EXPECT_FALSE(apply_param(params, bad, error)) << bad;
  }
}

TEST(ApplyInput, SendsTextAsInputAndBytesAsBase64) {
  nlohmann::json params = nlohmann::json::object();
  std::string error;
  ASSERT_TRUE(apply_input(params, "hello\n", error));
  EXPECT_EQ(params["input"], "hello\n");
  EXPECT_FALSE(apply_input(params, "@/nonexistent/file", error));
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9"));
  EXPECT_FALSE(is_valid_utf8("\xFF\xFE"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));      // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));  // surrogate
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}
