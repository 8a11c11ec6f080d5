// RFC 3339 timestamps as the API reads them (`run_at`): pure parsing, no clock, no locale.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace jobd::proto {

// Milliseconds since the Unix epoch of an RFC 3339 date-time: `2026-11-28T10:00:00Z`, with
// optional fractional seconds (truncated to milliseconds) and `Z` or a `+hh:mm`/`-hh:mm` offset;
// `T` and `Z` may be lower case (RFC 3339 §5.6). Nullopt for anything else, including dates
// that do not exist (Feb 30) and leap seconds (:60, which no clock here can wait for).
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text) noexcept;

}  // namespace jobd::proto
