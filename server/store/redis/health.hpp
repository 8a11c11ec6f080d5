// RedisHealth: what a connection to Redis reports for /readyz and /metrics.
//
// A snapshot by value, taken on the loop. Round-trip times are measured from the moment a command
// is queued to the moment its reply is parsed, so under pipelining they include the queueing
// behind earlier commands: what the store's callers actually wait.
//
// Must never: hold a password (last_error is scrubbed before it is stored).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace jobd::store::redis {

enum class RedisState {
  connecting,    // connecting or running the set-up commands: commands fail as unavailable
  connected,     // commands are sent
  disconnected,  // waiting (backoff) before the next attempt: commands fail as unavailable
  stopped,       // stop() was called
};
inline std::string_view to_string(RedisState state) {
  switch (state) {
    case RedisState::connecting: return "connecting";
    case RedisState::connected: return "connected";
    case RedisState::disconnected: return "disconnected";
    case RedisState::stopped: return "stopped";
  }
  return "unknown";
}

struct RedisHealth {
  RedisState state = RedisState::connecting;
  std::string endpoint;               // RedisEndpoint::display()
  std::string last_error;             // why the last connection ended or the last attempt failed ("" if none)
  std::uint64_t connects = 0;         // connections that completed their set-up
  std::uint64_t reconnects = 0;       // of which after the first
  std::uint64_t failed_attempts = 0;  // connection attempts that failed (refused, timed out, AUTH)
  std::uint64_t timeouts = 0;         // commands that got no reply in time (each reset the connection)
  std::uint64_t commands = 0;         // replies received
  std::size_t in_flight = 0;          // sent, reply not yet in
  std::size_t in_flight_peak = 0;
  std::chrono::microseconds last_rtt{0};  // the last reply's round trip
  std::chrono::microseconds rtt_ewma{0};  // moving average over roughly the last 16 replies
};

}  // namespace jobd::store::redis
