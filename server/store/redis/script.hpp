// RedisScript: a Lua script run by its SHA-1 (EVALSHA), so only 40 bytes travel per call, that
// survives Redis forgetting it (a restart, SCRIPT FLUSH, a fail-over): on a NOSCRIPT reply it
// runs the script once with EVAL, which also puts it back in Redis's cache.
//
// NOSCRIPT means the script did not run, so the fallback never runs it twice. The SHA-1 is
// computed here (sha1.hpp) and matches what SCRIPT LOAD answers.
//
//   static const RedisScript submit(kSubmitLua);
//   auto [ec, reply] = co_await submit.run(redis, keys, args);
//
// Must never: block, or hide a real error: any other error reply or error_code is returned as is.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>

#include "store/redis/command.hpp"
#include "store/redis/connection.hpp"
#include "store/redis/reply.hpp"

namespace jobd::store::redis {

class RedisScript {
 public:
  explicit RedisScript(std::string source);

  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }
  // How many calls fell back to EVAL (a sign that Redis restarted or flushed its scripts).
  std::uint64_t fallbacks() const { return fallbacks_; }

  // EVALSHA sha1 #keys keys... args..., falling back to EVAL on NOSCRIPT. The keys and
  // arguments are copied before this returns.
  boost::asio::awaitable<std::tuple<std::error_code, Reply>> run(RedisConnection& redis,
                                                                 std::span<const std::string_view> keys,
                                                                 std::span<const std::string_view> args);

 private:
  boost::asio::awaitable<std::tuple<std::error_code, Reply>> run_encoded(RedisConnection& redis,
                                                                         Command evalsha, Command tail);
  std::string source_;
  std::string sha1_;
  std::uint64_t fallbacks_ = 0;
};

}  // namespace jobd::store::redis
