#include "store/redis/error.hpp"

#include <string>

namespace jobd::store::redis {
namespace {

class RedisCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "jobd.redis"; }
  std::string message(int code) const override {
    switch (static_cast<RedisError>(code)) {
      case RedisError::unavailable: return "redis unavailable (not connected)";
      case RedisError::too_many_pending: return "too many redis commands in flight";
      case RedisError::invalid_command: return "invalid redis command (no arguments)";
      case RedisError::connection_lost: return "redis connection lost before the reply";
      case RedisError::timeout: return "redis command timed out";
      case RedisError::stopped: return "redis connection stopped";
      case RedisError::connect_failed: return "redis connection attempt failed";
      case RedisError::auth_failed: return "redis authentication failed";
      case RedisError::handshake_failed: return "redis connection set-up failed";
    }
    return "unknown redis error";
  }
};

}  // namespace

const std::error_category& redis_category() noexcept {
  static const RedisCategory category;
  return category;
}

std::error_code make_error_code(RedisError e) noexcept { return {static_cast<int>(e), redis_category()}; }

bool outcome_unknown(std::error_code ec) noexcept {
  return ec == RedisError::connection_lost || ec == RedisError::timeout;
}

}  // namespace jobd::store::redis
