// Command config entries for the tests of exec/subprocess (command_config_test,
// command_config_errors_test, command_line_test): a minimal entry and its variations, parsing
// one entry, the message a bad document fails with, and argv as a submission would get it.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "exec/subprocess/command_config.hpp"
#include "exec/subprocess/command_line.hpp"
#include "kinds/kind.hpp"

namespace jobd::testing::commands {

using exec::build_argv;
using exec::CommandConfigError;
using exec::EnvLookup;
using exec::parse_command_config;
using kinds::Kind;
using nlohmann::json;

inline std::optional<std::string> no_env(const std::string&) { return std::nullopt; }

inline json minimal_entry() { return {{"name", "tool"}, {"program", "/usr/bin/tool"}}; }

inline json with_params(json params, json extra = json::object()) {
  json entry = minimal_entry();
  entry["params"] = std::move(params);
  for (auto& [key, value] : extra.items()) entry[key] = value;
  return entry;
}

inline Kind parse_one(const json& entry, const EnvLookup& env = no_env) {
  auto kinds = parse_command_config(json{{"commands", json::array({entry})}}, env);
  EXPECT_EQ(kinds.size(), 1u);
  return std::move(kinds.front());
}

// The message of the CommandConfigError that parsing `document` throws ("" if none).
inline std::string config_error(const json& document) {
  try {
    parse_command_config(document, no_env);
  } catch (const CommandConfigError& e) {
    return e.what();
  }
  return "";
}
inline std::string entry_error(const json& entry) {
  return config_error({{"commands", json::array({entry})}});
}

// Validates `params` the way the scheduler does, then builds argv.
inline std::variant<std::vector<std::string>, jobd::proto::ParamError> argv_for(const Kind& kind,
                                                                                const json& params) {
  auto validated = jobd::proto::validate_params(kind.params, params);
  if (auto* error = std::get_if<jobd::proto::ParamError>(&validated)) return *error;
  return build_argv(*kind.command, std::get<json>(validated));
}
inline std::vector<std::string> argv_ok(const Kind& kind, const json& params) {
  auto result = argv_for(kind, params);
  if (auto* error = std::get_if<jobd::proto::ParamError>(&result)) {
    ADD_FAILURE() << "refused: " << error->pointer << " " << error->message;
    return {};
  }
  return std::get<std::vector<std::string>>(result);
}
inline std::string refused_pointer(const Kind& kind, const json& params) {
  auto result = argv_for(kind, params);
  auto* error = std::get_if<jobd::proto::ParamError>(&result);
  return error ? error->pointer : "(accepted)";
}

using Strings = std::vector<std::string>;

inline json entry_with(const char* key, json value) {
  json entry = minimal_entry();
  entry[key] = std::move(value);
  return entry;
}

}  // namespace jobd::testing::commands
