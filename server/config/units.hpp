// Human-friendly flag values: durations (250ms, 5s, 2m, 1h, or bare seconds) and sizes
// (512k, 1m, 2g in binary units, or bare bytes). Pure functions, unit-tested.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jobd::config {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
std::optional<std::uint64_t> parse_size(std::string_view text);

// The shortest exact spelling: 10s, 2m, 1h, 250ms; 1m, 16k or bytes.
std::string format_duration(std::chrono::milliseconds duration);
std::string format_size(std::uint64_t bytes);

struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};
// HOST:PORT, with IPv6 hosts in brackets ([::1]:8080). Port 0 asks for an ephemeral port.
std::optional<ListenAddress> parse_listen(std::string_view text);

}  // namespace jobd::config
