#include "http/json_body.hpp"

#include <algorithm>
#include <cctype>

namespace jobd::http {

bool is_json_media_type(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back()))) type.remove_suffix(1);
  std::string lower(type);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower == "application/json" || (lower.starts_with("application/") && lower.ends_with("+json"));
}

bool json_depth_within(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

std::variant<nlohmann::json, proto::Problem> parse_json_body(std::string_view content_type,
                                                             std::string_view body,
                                                             std::size_t max_depth) {
  using proto::Problem;
  namespace problems = proto::problems;
  if (!is_json_media_type(content_type)) {
    return Problem{problems::unsupported_media_type,
                   content_type.empty() ? "Content-Type is missing; send application/json"
                                        : "Content-Type '" + std::string(content_type) + "' is not JSON",
                   std::nullopt, std::nullopt};
  }
  if (!json_depth_within(body, max_depth)) {
    return Problem{problems::bad_json,
                   "JSON nests deeper than " + std::to_string(max_depth) + " levels (--max-json-depth)",
                   std::nullopt, std::nullopt};
  }
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    // Parse again with exceptions only to get the position for the message; the slow path
    // is taken for bad input alone.
    std::string detail = "body is not valid JSON";
    try {
      [[maybe_unused]] auto again = nlohmann::json::parse(body);
    } catch (const nlohmann::json::parse_error& e) {
      detail += " (at byte " + std::to_string(e.byte) + ")";
    }
    return Problem{problems::bad_json, detail, std::nullopt, std::nullopt};
  }
  return parsed;
}

}  // namespace jobd::http
