// RedisError: what can go wrong between jobd and Redis, as error_code values (category
// "jobd.redis"), never as exceptions.
//
// The codes separate what a caller must treat differently: `unavailable` and `too_many_pending`
// mean the command was never sent (retrying is safe); `connection_lost` and `timeout` mean it
// may or may not have run (the outcome is unknown). A reply that Redis itself marks as an error
// (`-ERR ...`, `-NOSCRIPT ...`) is not an error code: it is a Reply of type error.
//
// Must never: carry a password in a message (the texts here are fixed; reasons with server text
// live in RedisHealth::last_error, scrubbed by the session).
#pragma once

#include <system_error>

namespace jobd::store::redis {

enum class RedisError {
  unavailable = 1,   // not connected (or reconnecting): not sent
  too_many_pending,  // the connection's in-flight bound was reached: not sent
  invalid_command,   // an empty command: not sent
  connection_lost,   // sent, then the connection dropped before its reply: outcome unknown
  timeout,           // no reply within the command's timeout: outcome unknown, connection reset
  stopped,           // the connection was stopped (shutdown)
  connect_failed,    // a connection attempt failed (refused, unreachable, DNS, timed out)
  auth_failed,       // Redis refused AUTH (or demanded it: NOAUTH)
  handshake_failed,  // SELECT, CLIENT SETNAME, PING or a re-subscription failed on connect
};

const std::error_category& redis_category() noexcept;
std::error_code make_error_code(RedisError e) noexcept;

// True when a command that failed with `ec` may have been executed by Redis.
bool outcome_unknown(std::error_code ec) noexcept;

}  // namespace jobd::store::redis

template <>
struct std::is_error_code_enum<jobd::store::redis::RedisError> : std::true_type {};
