// RedisOptions: how one connection to Redis behaves (where, who, how long to wait, how fast to
// retry), and Secret, the password's only holder.
//
// Every limit is a named constant here; the store's flags (issue 14) set them. The password is
// read once at start-up (load_redis_password), before the loop runs, because reading a file is
// blocking I/O: a reconnect reuses the Secret it was given.
//
// Must never: print, log or format a Secret (it has no operator<< and no conversion to string),
// or read the environment or a file after start-up.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "store/redis/uri.hpp"

namespace spdlog {
class logger;
}

namespace jobd::store::redis {

using std::chrono::milliseconds;

inline constexpr milliseconds kDefaultConnectTimeout{1000};  // connect, and each set-up command
inline constexpr milliseconds kDefaultCommandTimeout{1000};  // a command's reply
inline constexpr milliseconds kDefaultProbeInterval{5000};   // PING an idle connection this often
inline constexpr milliseconds kDefaultBackoffMin{50};        // first wait before reconnecting
inline constexpr milliseconds kDefaultBackoffMax{2000};      // longest wait between attempts
inline constexpr std::size_t kDefaultMaxInFlight = 100'000;  // commands sent, replies not yet in

// The password, held apart so that it cannot reach a log line by accident.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = default;
  Secret& operator=(const Secret&) = default;
  ~Secret();
  bool empty() const { return value_.empty(); }
  // For AUTH, and for scrubbing server texts: the only two readers.
  std::string_view reveal() const { return value_; }

 private:
  std::string value_;
};

// The password from JOBD_REDIS_PASSWORD (`value`) or from the file JOBD_REDIS_PASSWORD_FILE names
// (`file`, its content without a trailing newline); both null: no password. Giving both, an
// unreadable file or an empty one is an error (one line naming the variable or the file, never
// the content).
using LoadedPassword = std::variant<Secret, std::string>;
LoadedPassword load_redis_password(const char* value, const char* file);
LoadedPassword load_redis_password_from_environment();

struct RedisOptions {
  RedisEndpoint endpoint;
  Secret password;          // empty: no AUTH
  std::string client_name;  // CLIENT SETNAME after connecting (empty: none), e.g. "jobd:r1:claims"
  milliseconds connect_timeout = kDefaultConnectTimeout;
  milliseconds command_timeout = kDefaultCommandTimeout;
  milliseconds probe_interval = kDefaultProbeInterval;
  milliseconds backoff_min = kDefaultBackoffMin;
  milliseconds backoff_max = kDefaultBackoffMax;
  std::size_t max_in_flight = kDefaultMaxInFlight;
  std::shared_ptr<spdlog::logger> logger;  // null: spdlog's default logger
};

// The timeout for a command that blocks in Redis for `block` (XREADGROUP ... BLOCK ms, BLPOP):
// the block plus the ordinary command timeout, so an empty answer is not mistaken for a stall.
inline milliseconds blocking_timeout(milliseconds block, const RedisOptions& options) {
  return block + options.command_timeout;
}

}  // namespace jobd::store::redis
