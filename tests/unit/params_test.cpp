#include <gtest/gtest.h>

#include "jobd/proto/params.hpp"

using namespace jobd::proto;
using nlohmann::json;

namespace {
ParamsSchema sample_schema() {
  ParamsSchema schema;
  schema.params = {
      {.name = "n", .type = ParamType::integer, .required = true, .minimum = 0, .maximum = 100},
      {.name = "name", .type = ParamType::string, .default_value = "x", .max_length = 8, .pattern = "[a-z]+"},
      {.name = "ratio", .type = ParamType::number, .minimum = 0.5},
      {.name = "loud", .type = ParamType::boolean},
      {.name = "mode", .type = ParamType::enumeration, .choices = {"fast", "slow"}},
  };
  compile(schema);
  return schema;
}

std::string error_pointer(const std::variant<json, ParamError>& result) {
  return std::holds_alternative<ParamError>(result) ? std::get<ParamError>(result).pointer : "(ok)";
}
}  // namespace

TEST(Params, ValidParamsPassWithDefaultsFilledIn) {
  auto result = validate_params(sample_schema(), json{{"n", 5}, {"mode", "fast"}});
  ASSERT_TRUE(std::holds_alternative<json>(result));
  const auto& params = std::get<json>(result);
  EXPECT_EQ(params["n"], 5);
  EXPECT_EQ(params["name"], "x");
  EXPECT_EQ(params["mode"], "fast");
  EXPECT_FALSE(params.contains("ratio"));
}

TEST(Params, EachViolationNamesTheFieldByJsonPointer) {
  const auto schema = sample_schema();
  EXPECT_EQ(error_pointer(validate_params(schema, json::object())), "/params/n");  // required
  EXPECT_EQ(error_pointer(validate_params(schema, {{"n", "5"}})), "/params/n");    // type
  EXPECT_EQ(error_pointer(validate_params(schema, {{"n", 5.5}})), "/params/n");    // not integral
  EXPECT_EQ(error_pointer(validate_params(schema, {{"n", 101}})), "/params/n");    // maximum
  EXPECT_EQ(error_pointer(validate_params(schema, {{"n", -1}})), "/params/n");     // minimum
  EXPECT_EQ(error_pointer(validate_params(schema, {{"n", 1}, {"name", "ABC"}})), "/params/name");  // pattern
  EXPECT_EQ(error_pointer(validate_params(schema, {{"n", 1}, {"name", "abcdefghi"}})),
            "/params/name");  // length
  EXPECT_EQ(error_pointer(validate_params(schema, {{"n", 1}, {"ratio", 0.1}})), "/params/ratio");
  EXPECT_EQ(error_pointer(validate_params(schema, {{"n", 1}, {"loud", 1}})), "/params/loud");
  EXPECT_EQ(error_pointer(validate_params(schema, {{"n", 1}, {"mode", "medium"}})), "/params/mode");
  EXPECT_EQ(error_pointer(validate_params(schema, {{"n", 1}, {"typo", 1}})), "/params/typo");  // unknown
  EXPECT_EQ(error_pointer(validate_params(schema, {{"n", 1}, {"a/b", 1}})), "/params/a~1b");   // escaped
  EXPECT_EQ(error_pointer(validate_params(schema, json::array())), "/params");
}

TEST(Params, IntegersBeyondSixtyFourBitsAreRefused) {
  const auto schema = sample_schema();
  EXPECT_EQ(error_pointer(validate_params(schema, json::parse(R"({"n": 18446744073709551615})"))),
            "/params/n");
  EXPECT_EQ(error_pointer(validate_params(schema, json::parse(R"({"n": 1e300})"))), "/params/n");
}

TEST(Params, FreeFormAcceptsAnyObjectUpToItsSizeBound) {
  ParamsSchema schema;
  schema.free_form = true;
  schema.max_free_form_bytes = 32;
  EXPECT_TRUE(std::holds_alternative<json>(validate_params(schema, {{"anything", {1, 2, 3}}})));
  EXPECT_EQ(error_pointer(validate_params(schema, {{"big", std::string(64, 'x')}})), "/params");
}

TEST(Params, BadPatternIsRefusedAtCompileNamingTheParam) {
  ParamsSchema schema;
  schema.params = {{.name = "p", .type = ParamType::string, .pattern = "(unclosed"}};
  try {
    compile(schema);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'p'"), std::string::npos);
  }
}

TEST(Params, JsonSchemaDescribesTypesBoundsAndRequired) {
  auto schema = to_json_schema(sample_schema());
  EXPECT_EQ(schema["type"], "object");
  EXPECT_EQ(schema["additionalProperties"], false);
  EXPECT_EQ(schema["required"], json::array({"n"}));
  EXPECT_EQ(schema["properties"]["n"]["type"], "integer");
  EXPECT_EQ(schema["properties"]["n"]["maximum"], 100);
  EXPECT_EQ(schema["properties"]["name"]["pattern"], "[a-z]+");
  EXPECT_EQ(schema["properties"]["mode"]["enum"], json::array({"fast", "slow"}));
}
