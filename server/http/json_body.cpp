#include "http/json_body.hpp"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <cctype>
#include <cstdint>
#include <unordered_set>
#include <vector>

namespace jobd::http {

bool is_json_media_type(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back()))) type.remove_suffix(1);
  // Compared in place, case-insensitively: a lowered copy of "application/json" is one byte
  // past the small-string buffer, an allocation per request.
  const auto equals_lower = [](std::string_view text, std::string_view lower) {
    return text.size() == lower.size() &&
           std::equal(text.begin(), text.end(), lower.begin(),
                      [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  };
  constexpr std::string_view kPrefix = "application/";
  constexpr std::string_view kSuffix = "+json";
  if (equals_lower(type, "application/json")) return true;
  return type.size() >= kPrefix.size() + kSuffix.size() &&
         equals_lower(type.substr(0, kPrefix.size()), kPrefix) &&
         equals_lower(type.substr(type.size() - kSuffix.size()), kSuffix);
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

namespace {

// The member names of the open objects, as views into the text, in one stack: each object's
// names from its frame's start. Inline up to these sizes (no allocation for a usual body); a
// name is compared with its object's earlier names one by one, so an object with more than
// kLinearNames members sends the whole text to the hashed check instead (linear in the text).
constexpr std::size_t kLinearNames = 16;
constexpr std::uint32_t kArray = UINT32_MAX;  // a frame that is an array

enum class Scan { none, duplicate, too_many };

Scan scan_linear(std::string_view text, std::string_view& duplicate) {
  boost::container::small_vector<std::string_view, 32> names;
  boost::container::small_vector<std::uint32_t, 16> frames;  // where each open object's names start
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '{' || c == '[') {
      frames.push_back(c == '{' ? static_cast<std::uint32_t>(names.size()) : kArray);
    } else if ((c == '}' || c == ']') && !frames.empty()) {
      if (frames.back() != kArray) names.resize(frames.back());
      frames.pop_back();
    } else if (c == '"') {
      std::size_t end = i + 1;
      while (end < text.size() && text[end] != '"') end += text[end] == '\\' ? 2 : 1;
      if (end >= text.size()) return Scan::none;  // unterminated: the parser reports it
      const std::string_view name = text.substr(i + 1, end - i - 1);
      std::size_t next = end + 1;
      while (next < text.size() &&
             (text[next] == ' ' || text[next] == '\n' || text[next] == '\r' || text[next] == '\t')) {
        ++next;
      }
      if (next < text.size() && text[next] == ':' && !frames.empty() && frames.back() != kArray) {
        const std::size_t start = frames.back();
        if (names.size() - start >= kLinearNames) return Scan::too_many;
        for (std::size_t k = start; k < names.size(); ++k) {
          if (names[k] == name) {
            duplicate = name;
            return Scan::duplicate;
          }
        }
        names.push_back(name);
      }
      i = end;
    }
  }
  return Scan::none;
}

std::optional<std::string> duplicate_hashed(std::string_view text) {
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

}  // namespace

std::optional<std::string> duplicate_json_key(std::string_view text) {
  // Small objects (every job submission) are checked without an allocation; a set per object
  // costs ~8 allocations per submit.
  std::string_view duplicate;
  switch (scan_linear(text, duplicate)) {
    case Scan::none: return std::nullopt;
    case Scan::duplicate: return std::string(duplicate);
    case Scan::too_many: break;
  }
  return duplicate_hashed(text);
}

std::optional<proto::Problem> check_json_body(std::string_view content_type, std::string_view body,
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
  if (auto name = duplicate_json_key(body)) {
    return Problem{problems::bad_json, "member name \"" + *name + "\" appears twice in one object",
                   std::nullopt, std::nullopt};
  }
  return std::nullopt;
}

std::variant<nlohmann::json, proto::Problem> parse_json_body(std::string_view content_type,
                                                             std::string_view body, std::size_t max_depth) {
  using proto::Problem;
  namespace problems = proto::problems;
  if (auto problem = check_json_body(content_type, body, max_depth)) return std::move(*problem);
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
