// Start-up checks of a parsed Config: every duration and size within its range (a value past
// what the clocks hold would wrap and turn a long timeout into none at all), and no combination
// of flags that would break the service (a default timeout above the maximum refuses every job
// that names none). Pure: the caller prints the one line and stops.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace jobd::config {

// The bounds of a duration flag; values outside are refused at start.
struct DurationBounds {
  const char* flag;
  milliseconds Config::*field;
  milliseconds min;
  milliseconds max;
};

// Every duration flag with its bounds (also what --help and README say).
const std::vector<DurationBounds>& duration_bounds();

// Smallest --max-header that holds a request line and the usual headers.
inline constexpr std::uint64_t kMinHeaderBytes = 1024;

// A --store value: memory:, or sqlite: followed by a path. nullopt when it is one of them.
std::optional<std::string> check_store_uri(std::string_view uri);

// The first problem with `config`, as one line naming the flag(s), or nullopt when it can run.
std::optional<std::string> check_config(const Config& config);

}  // namespace jobd::config
