// Reading the command config's JSON with errors that say where: each reader takes a Where (the
// entry, e.g. `commands[2] (sort)`, and the field path, e.g. `params[0] (reverse).arg`) and
// throws CommandConfigError with both in front of the message. Pure; used by the config parser
// (command_config.cpp) only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobd::exec::fields {

// Where in the file a problem is. Every error message starts with it.
struct Where {
  std::string entry;
  std::string field;

  Where at(const std::string& child) const;
  Where at(std::size_t index) const;
  [[noreturn]] void fail(const std::string& message) const;
};

// [A-Za-z_][A-Za-z0-9_]*
bool is_identifier(std::string_view text);
bool has_nul(std::string_view text);

void refuse_unknown_fields(const nlohmann::json& object, const Where& where,
                           std::initializer_list<std::string_view> known);
// The member, or nullptr when absent.
const nlohmann::json* member(const nlohmann::json& object, const char* key);
// A string without NUL; `fallback` when absent and not required.
std::string string_field(const nlohmann::json& object, const char* key, const Where& where, bool required,
                         std::string fallback = {});
bool bool_field(const nlohmann::json& object, const char* key, const Where& where, bool fallback);
// A non-negative integer.
std::optional<std::uint64_t> count_field(const nlohmann::json& object, const char* key, const Where& where);
std::optional<double> number_field(const nlohmann::json& object, const char* key, const Where& where);
// An array of strings without NUL; empty when absent.
std::vector<std::string> string_list(const nlohmann::json& object, const char* key, const Where& where);

}  // namespace jobd::exec::fields
