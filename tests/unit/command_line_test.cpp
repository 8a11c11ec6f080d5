// A job's argv and stdin from its params (exec/subprocess/command_line): fixed args, then
// options and flags, then positionals; every client value one literal argument that never
// becomes an option; the input to stdin as text or base64; and base64 itself.
#include <gtest/gtest.h>

#include "command_entries.hpp"
#include "exec/subprocess/base64.hpp"
#include "exec/subprocess/command_line.hpp"

using namespace jobd::exec;
using namespace jobd::testing::commands;

TEST(CommandConfigArgv, FixedArgsThenOptionsAndFlagsThenPositionals) {
  Kind kind = parse_one(with_params(
      {{{"name", "file"}, {"type", "string"}, {"required", true}, {"arg", {{"positional", true}}}},
       {{"name", "lines"}, {"type", "integer"}, {"minimum", 1}, {"arg", {{"option", "--lines"}}}},
       {{"name", "count"}, {"type", "integer"}, {"arg", {{"option", "-n"}}}},
       {{"name", "ratio"}, {"type", "number"}, {"arg", {{"option", "--ratio"}}}},
       {{"name", "reverse"}, {"type", "boolean"}, {"arg", {{"flag", "-r"}}}},
       {{"name", "quiet"}, {"type", "boolean"}, {"default", true}, {"arg", {{"flag", "--quiet"}}}},
       {{"name", "mode"},
        {"type", "enum"},
        {"choices", {"fast", "slow"}},
        {"default", "fast"},
        {"arg", {{"option", "--mode"}}}}},
      {{"args", {"--fixed", "x"}}}));
  EXPECT_EQ(argv_ok(kind, {{"file", "a.txt"}}),
            (Strings{"/usr/bin/tool", "--fixed", "x", "--quiet", "--mode=fast", "a.txt"}));
  EXPECT_EQ(argv_ok(kind, {{"file", "a.txt"},
                           {"lines", 5},
                           {"count", 7},
                           {"ratio", 0.5},
                           {"reverse", true},
                           {"quiet", false},
                           {"mode", "slow"}}),
            (Strings{"/usr/bin/tool", "--fixed", "x", "--lines=5", "-n7", "--ratio=0.5", "-r", "--mode=slow",
                     "a.txt"}));
}

TEST(CommandConfigArgv, ShellSyntaxIsOneLiteralArgument) {
  Kind kind =
      parse_one(with_params({{{"name", "text"}, {"type", "string"}, {"arg", {{"positional", true}}}},
                             {{"name", "name"}, {"type", "string"}, {"arg", {{"option", "--name"}}}}}));
  for (std::string attack :
       {"; rm -rf /", "$(id)", "`id`", "a && touch /tmp/pwned", "x | sh", "*", "\"'\\", "a\nb"}) {
    EXPECT_EQ(argv_ok(kind, {{"text", attack}}), (Strings{"/usr/bin/tool", attack})) << attack;
    EXPECT_EQ(argv_ok(kind, {{"name", attack}}), (Strings{"/usr/bin/tool", "--name=" + attack})) << attack;
  }
}

TEST(CommandConfigArgv, AValueCannotBecomeAnOption) {
  Kind kind = parse_one(with_params({{{"name", "text"}, {"type", "string"}, {"arg", {{"positional", true}}}},
                                     {{"name", "n"}, {"type", "integer"}, {"arg", {{"positional", true}}}},
                                     {{"name", "x"}, {"type", "number"}, {"arg", {{"positional", true}}}},
                                     {{"name", "name"}, {"type", "string"}, {"arg", {{"option", "--name"}}}},
                                     {{"name", "k"}, {"type", "string"}, {"arg", {{"option", "-k"}}}}}));
  // A positional value that starts with '-' is refused at submission.
  EXPECT_EQ(refused_pointer(kind, {{"text", "-rf"}}), "/params/text");
  EXPECT_EQ(refused_pointer(kind, {{"text", "--output=/etc/passwd"}}), "/params/text");
  EXPECT_EQ(refused_pointer(kind, {{"text", "-"}}), "/params/text");
  EXPECT_EQ(refused_pointer(kind, {{"n", -5}}), "/params/n");
  EXPECT_EQ(refused_pointer(kind, {{"x", -0.5}}), "/params/x");
  // An option that is not declared cannot be asked for: unknown params are refused.
  EXPECT_EQ(refused_pointer(kind, {{"output", "/etc/passwd"}}), "/params/output");
  // An option's value is glued to it, so it stays that option's value whatever it holds.
  EXPECT_EQ(argv_ok(kind, {{"name", "-rf"}}), (Strings{"/usr/bin/tool", "--name=-rf"}));
  EXPECT_EQ(argv_ok(kind, {{"name", "--output=/etc/passwd"}}),
            (Strings{"/usr/bin/tool", "--name=--output=/etc/passwd"}));
  EXPECT_EQ(argv_ok(kind, {{"k", "-1"}}), (Strings{"/usr/bin/tool", "-k-1"}));
  // "-k" alone would take the next argument as its value.
  EXPECT_EQ(refused_pointer(kind, {{"k", ""}}), "/params/k");
  EXPECT_EQ(argv_ok(kind, {{"name", ""}}), (Strings{"/usr/bin/tool", "--name="}));
  // A C string would end at NUL: refused rather than cut.
  EXPECT_EQ(refused_pointer(kind, {{"text", std::string("a\0b", 3)}}), "/params/text");
  EXPECT_EQ(refused_pointer(kind, {{"name", std::string("a\0b", 3)}}), "/params/name");
  // Values that only contain a dash later are fine.
  EXPECT_EQ(argv_ok(kind, {{"text", "a-b"}, {"n", 3}}), (Strings{"/usr/bin/tool", "a-b", "3"}));
}

TEST(CommandConfigArgv, EndOfOptionsLetsDashValuesThroughAsOperands) {
  Kind kind = parse_one(with_params({{{"name", "text"}, {"type", "string"}, {"arg", {{"positional", true}}}},
                                     {{"name", "v"}, {"type", "boolean"}, {"arg", {{"flag", "-v"}}}}},
                                    {{"end_of_options", true}}));
  EXPECT_EQ(argv_ok(kind, {{"text", "-rf"}, {"v", true}}), (Strings{"/usr/bin/tool", "-v", "--", "-rf"}));
  EXPECT_EQ(argv_ok(kind, json::object()), (Strings{"/usr/bin/tool", "--"}));
}

TEST(CommandConfigInput, TextOrBase64ToStdin) {
  Kind kind = parse_one(with_params(json::array(), {{"stdin", true}, {"max_input_bytes", 5}}));
  auto stdin_of = [&](const json& params) {
    auto validated = jobd::proto::validate_params(kind.params, params);
    EXPECT_TRUE(std::holds_alternative<json>(validated));
    return std::holds_alternative<json>(validated) ? build_stdin(*kind.command, std::get<json>(validated))
                                                   : "";
  };
  EXPECT_EQ(stdin_of({{"input", "hello"}}), "hello");
  EXPECT_EQ(stdin_of({{"input_base64", "AAEC/w=="}}), std::string("\x00\x01\x02\xff", 4));
  EXPECT_EQ(stdin_of(json::object()), "");
  // The input never reaches argv.
  EXPECT_EQ(argv_ok(kind, {{"input", "-rf"}}), Strings{"/usr/bin/tool"});
  EXPECT_EQ(refused_pointer(kind, {{"input", "123456"}}), "/params/input");                  // too long
  EXPECT_EQ(refused_pointer(kind, {{"input_base64", "MTIzNDU2"}}), "/params/input_base64");  // 6 bytes
  EXPECT_EQ(refused_pointer(kind, {{"input_base64", "not base64!"}}), "/params/input_base64");
  EXPECT_EQ(refused_pointer(kind, {{"input", "a"}, {"input_base64", "YQ=="}}), "/params/input_base64");
}

TEST(Base64, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    const std::string encoded = encode_base64(bytes);
    EXPECT_EQ(encoded.size() % 4, 0u);
    EXPECT_EQ(decode_base64(encoded), bytes);
    bytes.push_back(static_cast<char>(i * 37));
  }
  EXPECT_EQ(encode_base64("hello"), "aGVsbG8=");
  EXPECT_FALSE(decode_base64("aGVsbG8"));     // no padding
  EXPECT_FALSE(decode_base64("aG=sbG8="));    // data after padding
  EXPECT_FALSE(decode_base64("aGVs\nbG8="));  // line break
}
