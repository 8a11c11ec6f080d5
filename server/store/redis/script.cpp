#include "store/redis/script.hpp"

#include "store/redis/sha1.hpp"

namespace jobd::store::redis {

namespace asio = boost::asio;

RedisScript::RedisScript(std::string source) : source_(std::move(source)), sha1_(sha1_hex(source_)) {}

asio::awaitable<std::tuple<std::error_code, Reply>> RedisScript::run(RedisConnection& redis,
                                                                     std::span<const std::string_view> keys,
                                                                     std::span<const std::string_view> args) {
  // Not a coroutine itself: the commands are built now, while the caller's views are alive,
  // and the coroutine below owns them.
  Command tail = Command::of(static_cast<std::uint64_t>(keys.size()));
  for (std::string_view key : keys) tail.arg(key);
  for (std::string_view arg : args) tail.arg(arg);
  Command evalsha = Command::of("EVALSHA", sha1_);
  evalsha.append(tail);
  return run_encoded(redis, std::move(evalsha), std::move(tail));
}

asio::awaitable<std::tuple<std::error_code, Reply>> RedisScript::run_encoded(RedisConnection& redis,
                                                                             Command evalsha, Command tail) {
  auto [ec, reply] = co_await redis.command(evalsha);
  if (ec || !reply.is_error_code("NOSCRIPT"))
    co_return std::tuple<std::error_code, Reply>(ec, std::move(reply));
  ++fallbacks_;
  Command eval = Command::of("EVAL", source_);  // built only now: the script's whole text
  eval.append(tail);
  co_return co_await redis.command(eval);
}

}  // namespace jobd::store::redis
