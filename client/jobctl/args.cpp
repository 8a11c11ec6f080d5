#include "args.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace jobd::jobctl {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::string& error) {
  std::size_t unit_at = 0;
  while (unit_at < text.size() && ((text[unit_at] >= '0' && text[unit_at] <= '9') || text[unit_at] == '.')) {
    ++unit_at;
  }
  const std::string_view number = text.substr(0, unit_at);
  const std::string_view unit = text.substr(unit_at);
  double value = 0;
  auto [end, status] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || status != std::errc() || end != number.data() + number.size() ||
      !std::isfinite(value)) {
    error = "'" + std::string(text) + "' is not a duration (examples: 500ms, 1.5s, 2m, 30)";
    return std::nullopt;
  }
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m" || unit == "min") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    error = "'" + std::string(text) + "': unknown unit '" + std::string(unit) + "' (use ms, s, m or h)";
    return std::nullopt;
  }
  const double ms = value * scale;
  if (ms > 1e15) {
    error = "'" + std::string(text) + "' is too long";
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

nlohmann::json param_value(std::string_view text) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) return std::string(text);
  return value;
}

bool apply_param(nlohmann::json& params, std::string_view assignment, std::string& error) {
  const auto equals = assignment.find('=');
  if (equals == std::string_view::npos || equals == 0) {
    error = "--param wants NAME=VALUE, got '" + std::string(assignment) + "'";
    return false;
  }
  std::string_view key = assignment.substr(0, equals);
  nlohmann::json* target = &params;
  // Dotted keys walk into (or create) nested objects.
  for (auto dot = key.find('.'); dot != std::string_view::npos; dot = key.find('.')) {
    const std::string part(key.substr(0, dot));
    if (part.empty()) {
      error = "--param name '" + std::string(assignment.substr(0, equals)) + "' has an empty part";
      return false;
    }
    nlohmann::json& next = (*target)[part];
    if (next.is_null()) next = nlohmann::json::object();
    if (!next.is_object()) {
      error = "--param '" + part + "' is already set to a non-object value";
      return false;
    }
    target = &next;
    key.remove_prefix(dot + 1);
  }
  if (key.empty()) {
    error = "--param name '" + std::string(assignment.substr(0, equals)) + "' ends with '.'";
    return false;
  }
  (*target)[std::string(key)] = param_value(assignment.substr(equals + 1));
  return true;
}

bool is_valid_utf8(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + length > bytes.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(bytes[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF are not UTF-8.
    static constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (const auto rest = bytes.size() - i; rest > 0) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool apply_input(nlohmann::json& params, std::string_view argument, std::string& error) {
  std::string bytes;
  if (argument == "@-") {
    bytes.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else if (argument.starts_with('@')) {
    const std::string path(argument.substr(1));
    std::ifstream file(path, std::ios::binary);
    if (!file) {
      error = "--input: cannot read '" + path + "'";
      return false;
    }
    std::ostringstream content;
    content << file.rdbuf();
    bytes = std::move(content).str();
  } else {
    bytes = std::string(argument);
  }
  if (is_valid_utf8(bytes)) {
    params["input"] = std::move(bytes);
  } else {
    params["input_base64"] = base64_encode(bytes);
  }
  return true;
}

}  // namespace jobd::jobctl
