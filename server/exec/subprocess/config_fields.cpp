#include "exec/subprocess/config_fields.hpp"

#include <algorithm>
#include <cctype>

#include "exec/subprocess/command_config.hpp"

namespace jobd::exec::fields {

using nlohmann::json;

Where Where::at(const std::string& child) const {
  return {entry, field.empty() ? child : field + (child.front() == '[' ? "" : ".") + child};
}

Where Where::at(std::size_t index) const {
  std::string child = std::to_string(index);  // appended, not "[" + ...: GCC 12 -Wstringop-overflow
  child.insert(child.begin(), '[');
  child.push_back(']');
  return at(child);
}

void Where::fail(const std::string& message) const {
  std::string text = entry;
  if (!field.empty()) text += (text.empty() ? "" : ": ") + field;
  throw CommandConfigError(text + ": " + message);
}

bool is_identifier(std::string_view text) {
  if (text.empty() || std::isdigit(static_cast<unsigned char>(text.front()))) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

void refuse_unknown_fields(const json& object, const Where& where,
                           std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string names;
      for (auto name : known) names += (names.empty() ? "" : ", ") + std::string(name);
      where.at(key).fail("unknown field (known: " + names + ")");
    }
  }
}

const json* member(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string string_field(const json& object, const char* key, const Where& where, bool required,
                         std::string fallback) {
  const json* value = member(object, key);
  if (value == nullptr) {
    if (required) where.at(key).fail("is required");
    return fallback;
  }
  if (!value->is_string()) where.at(key).fail("must be a string");
  const auto& text = value->get_ref<const std::string&>();
  if (has_nul(text)) where.at(key).fail("must not contain a NUL character");
  return text;
}

bool bool_field(const json& object, const char* key, const Where& where, bool fallback) {
  const json* value = member(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) where.at(key).fail("must be true or false");
  return value->get<bool>();
}

std::optional<std::uint64_t> count_field(const json& object, const char* key, const Where& where) {
  const json* value = member(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number_integer() ||
      (value->is_number_integer() && !value->is_number_unsigned() && value->get<std::int64_t>() < 0)) {
    where.at(key).fail("must be a non-negative integer");
  }
  return value->get<std::uint64_t>();
}

std::optional<double> number_field(const json& object, const char* key, const Where& where) {
  const json* value = member(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) where.at(key).fail("must be a number");
  return value->get<double>();
}

std::vector<std::string> string_list(const json& object, const char* key, const Where& where) {
  std::vector<std::string> out;
  const json* value = member(object, key);
  if (value == nullptr) return out;
  if (!value->is_array()) where.at(key).fail("must be an array of strings");
  for (std::size_t i = 0; i < value->size(); ++i) {
    const json& item = (*value)[i];
    if (!item.is_string()) where.at(key).at(i).fail("must be a string");
    if (has_nul(item.get_ref<const std::string&>())) {
      where.at(key).at(i).fail("must not contain a NUL character");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace jobd::exec::fields
