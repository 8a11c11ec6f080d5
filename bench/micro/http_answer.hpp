// Reading one HTTP answer off a blocking socket, for the micro benchmarks that hold connections.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdlib>
#include <string_view>

namespace jobd::bench {

// Reads until the head and the body its Content-Length names are in (/healthz's body changes with
// the store it reports on, so no fixed end marker will do). False when the peer closed, an error
// happened, or the answer does not fit in `capacity` bytes.
inline bool read_answer(int fd, char* buffer, std::size_t capacity) {
  std::size_t have = 0;
  while (have < capacity) {
    const auto n = ::recv(fd, buffer + have, capacity - have, 0);
    if (n <= 0) return false;
    have += static_cast<std::size_t>(n);
    const std::string_view text(buffer, have);
    const auto end = text.find("\r\n\r\n");
    const auto length = text.find("Content-Length: ");
    if (end != std::string_view::npos && length != std::string_view::npos &&
        have >= end + 4 + std::strtoul(buffer + length + 16, nullptr, 10)) {
      return true;
    }
  }
  return false;
}

}  // namespace jobd::bench
