#include "http/json_body.hpp"

#include <algorithm>
#include <cctype>
#include <unordered_set>
#include <vector>

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

std::optional<std::string> duplicate_json_key(std::string_view text) {
  // One set of names per open container; arrays get an entry too, unused, to keep the stack
  // aligned with the nesting.
  std::vector<std::unordered_set<std::string_view>> names;
  std::vector<bool> is_object;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '{' || c == '[') {
      names.emplace_back();
      is_object.push_back(c == '{');
    } else if ((c == '}' || c == ']') && !names.empty()) {
      names.pop_back();
      is_object.pop_back();
    } else if (c == '"') {
      std::size_t end = i + 1;
      while (end < text.size() && text[end] != '"') end += text[end] == '\\' ? 2 : 1;
      if (end >= text.size()) return std::nullopt;  // unterminated: the parser reports it
      const std::string_view name = text.substr(i + 1, end - i - 1);
      std::size_t next = end + 1;
      while (next < text.size() &&
             (text[next] == ' ' || text[next] == '\n' || text[next] == '\r' || text[next] == '\t')) {
        ++next;
      }
      if (next < text.size() && text[next] == ':' && !is_object.empty() && is_object.back() &&
          !names.back().insert(name).second) {
        return std::string(name);
      }
      i = end;
    }
  }
  return std::nullopt;
}

std::variant<nlohmann::json, proto::Problem> parse_json_body(std::string_view content_type,
                                                             std::string_view body, std::size_t max_depth) {
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
  if (auto name = duplicate_json_key(body)) {
    return Problem{problems::bad_json, "member name \"" + *name + "\" appears twice in one object",
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
    } catch (const nlohmann::json::exception& e) {
      detail += std::string(" (") + e.what() + ")";  // e.g. a number out of range
    }
    return Problem{problems::bad_json, detail, std::nullopt, std::nullopt};
  }
  return parsed;
}

}  // namespace jobd::http
