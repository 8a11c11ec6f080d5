// Request bodies to JSON, with the checks a hostile client makes necessary: media type, nesting
// depth (nlohmann's parser recurses, so depth is bounded before parsing), valid UTF-8.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "jobd/proto/problem.hpp"

namespace jobd::http {

inline constexpr std::size_t kDefaultMaxJsonDepth = 64;

// Whether a Content-Type value names JSON (application/json or application/*+json, any params).
bool is_json_media_type(std::string_view content_type);
// Whether no array or object in `text` nests deeper than `max_depth`. Linear, no allocation.
bool json_depth_within(std::string_view text, std::size_t max_depth);
// The first member name that appears twice in one object, if any. Names are compared as
// written (an escaped spelling of the same name is not caught); nlohmann would silently keep
// the last value, and two readers of one body must never disagree on what it says.
std::optional<std::string> duplicate_json_key(std::string_view text);
// The checks made before any parse (media type, depth, duplicate names): none allocates unless it
// refuses. A caller with its own parser for the body's usual shape runs these first.
std::optional<proto::Problem> check_json_body(std::string_view content_type, std::string_view body,
                                              std::size_t max_depth);
// The checks above, then nlohmann's document.
std::variant<nlohmann::json, proto::Problem> parse_json_body(std::string_view content_type,
                                                             std::string_view body, std::size_t max_depth);

}  // namespace jobd::http
