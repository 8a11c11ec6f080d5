#include <gtest/gtest.h>

#include "http/json_body.hpp"

using namespace jobd::http;
namespace problems = jobd::proto::problems;

namespace {
std::string_view problem_type(const std::variant<nlohmann::json, jobd::proto::Problem>& result) {
  return std::holds_alternative<jobd::proto::Problem>(result)
             ? std::get<jobd::proto::Problem>(result).kind.type
             : "(ok)";
}
}  // namespace

TEST(JsonBody, MediaTypeMustBeJson) {
  EXPECT_TRUE(is_json_media_type("application/json"));
  EXPECT_TRUE(is_json_media_type("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(is_json_media_type("application/merge-patch+json"));
  EXPECT_FALSE(is_json_media_type(""));
  EXPECT_FALSE(is_json_media_type("text/plain"));
  EXPECT_FALSE(is_json_media_type("application/jsonx"));
  EXPECT_EQ(problem_type(parse_json_body("text/plain", "{}", 64)), problems::unsupported_media_type.type);
}

TEST(JsonBody, DepthIsBoundedBeforeParsingAndStringsDoNotCount) {
  EXPECT_TRUE(json_depth_within("[[[]]]", 3));
  EXPECT_FALSE(json_depth_within("[[[[]]]]", 3));
  EXPECT_TRUE(json_depth_within(R"({"a":"[[[[[[[[[[\"[["})", 1));
  const std::string deep(100000, '[');
  EXPECT_EQ(problem_type(parse_json_body("application/json", deep, 64)), problems::bad_json.type);
}

TEST(JsonBody, InvalidJsonAndInvalidUtf8AreBadJson) {
  EXPECT_EQ(problem_type(parse_json_body("application/json", "{", 64)), problems::bad_json.type);
  EXPECT_EQ(problem_type(parse_json_body("application/json", "", 64)), problems::bad_json.type);
  EXPECT_EQ(problem_type(parse_json_body("application/json", "{\"a\":\"\xff\xfe\"}", 64)),
            problems::bad_json.type);
  EXPECT_EQ(problem_type(parse_json_body("application/json", R"({"a":1})", 64)), "(ok)");
  EXPECT_EQ(problem_type(parse_json_body("application/json", R"({"n":1e999})", 64)), problems::bad_json.type);
}

TEST(JsonBody, DuplicateMemberNamesAreRefusedAtAnyDepth) {
  EXPECT_EQ(duplicate_json_key(R"({"a":1,"a":2})"), "a");
  EXPECT_EQ(duplicate_json_key(R"({"x":{"b":1, "b" :2}})"), "b");
  EXPECT_FALSE(duplicate_json_key(R"({"a":{"a":1},"b":["a","a"]})").has_value());  // other objects, values
  EXPECT_FALSE(duplicate_json_key(R"([{"a":1},{"a":2}])").has_value());            // sibling objects
  EXPECT_FALSE(duplicate_json_key(R"({"a\"b":1,"a":2})").has_value());             // escaped quote in a name
  EXPECT_EQ(problem_type(parse_json_body("application/json", R"({"kind":"echo","kind":"sleep"})", 64)),
            problems::bad_json.type);
}

TEST(JsonBody, DuplicatesAreFoundInObjectsOfAnySize) {
  // Up to 16 members an object's names are compared one by one; past that, hashed.
  const auto object = [](int members, bool repeat_first) {
    std::string text = "{\"outer\":1,\"o\":{";
    for (int i = 0; i < members; ++i)
      text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
    if (repeat_first) text += ",\"k0\":0";
    return text + "},\"tail\":{\"outer\":2}}";
  };
  for (int members : {1, 15, 16, 17, 200}) {
    EXPECT_FALSE(duplicate_json_key(object(members, false)).has_value()) << members;
    EXPECT_EQ(duplicate_json_key(object(members, true)), "k0") << members;
  }
  // A closed object's names are forgotten: the outer object's "outer" is not the inner one's.
  EXPECT_FALSE(duplicate_json_key(R"({"a":{"b":1,"c":2},"b":3,"c":{"a":1}})").has_value());
  EXPECT_EQ(duplicate_json_key(R"({"a":{"b":1},"c":[1,{"d":1}],"a":2})"), "a");
  EXPECT_TRUE(is_json_media_type("APPLICATION/VND.API+JSON"));
  EXPECT_FALSE(is_json_media_type("application/+jso"));
  EXPECT_FALSE(is_json_media_type("text/+json"));
}
