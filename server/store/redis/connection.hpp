// RedisConnection: jobd's connection to Redis for ordinary commands (the store's commands, or,
// as a second instance, its blocking claims), on the loop thread.
//
//   RedisConnection redis(loop, options);
//   redis.start();
//   const Command get = Command::of("GET", key);
//   auto [ec, reply] = co_await redis.command(get);
//
// Many commands may be in flight at once (pipelining): each is written as soon as the loop gets
// to it, and replies are matched in order. Every command has a timeout (command_timeout, or the
// one given); a command that runs out completes with RedisError::timeout and resets the
// connection. While Redis is away, commands complete at once with RedisError::unavailable, and
// the connection reconnects by itself with a jittered backoff, running AUTH and SELECT again.
// Commands that block in Redis (XREADGROUP ... BLOCK) belong on a connection of their own, with
// blocking_timeout(block, options): everything pipelined behind them would wait as long.
//
// Errors are values: the completion is (std::error_code, Reply), by default as a tuple from
// co_await. A reply Redis marks as an error (-ERR ...) is a Reply, with no error_code.
//
// Must never: block the loop, be used from another thread, or outlive the io_context's run (stop
// it, or destroy it, before the loop is destroyed).
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

#include "store/redis/command.hpp"
#include "store/redis/health.hpp"
#include "store/redis/options.hpp"
#include "store/redis/reply.hpp"

namespace jobd::store::redis {

class Session;

// The default completion token: co_await gives std::tuple<std::error_code, Reply>.
using DefaultReplyToken = boost::asio::as_tuple_t<boost::asio::use_awaitable_t<>>;

class RedisConnection {
 public:
  RedisConnection(boost::asio::any_io_executor loop, RedisOptions options);
  ~RedisConnection();  // stop()
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Starts connecting (and reconnecting, until stop()). Returns at once.
  void start();
  // Closes the connection: commands in flight complete with connection_lost, later ones with
  // stopped.
  void stop();

  // Sends `command` with the options' command_timeout, or with `timeout`.
  template <typename Token = DefaultReplyToken>
  auto command(const Command& command, Token&& token = {}) {
    return command_with_timeout(command, options().command_timeout, std::forward<Token>(token));
  }
  template <typename Token = DefaultReplyToken>
  auto command(const Command& command, milliseconds timeout, Token&& token = {}) {
    return command_with_timeout(command, timeout, std::forward<Token>(token));
  }
  // The arguments as views (binary-safe); they are copied before this returns.
  template <typename Token = DefaultReplyToken>
  auto command(std::span<const std::string_view> args, Token&& token = {}) {
    return command_with_timeout(Command(args), options().command_timeout, std::forward<Token>(token));
  }

  // Completes when connected ({}), when a connection attempt begun after the call fails (its
  // error: connect_failed, auth_failed, handshake_failed), or after `timeout` (timeout).
  boost::asio::awaitable<std::error_code> wait_ready(milliseconds timeout);
  RedisHealth health() const;
  const RedisOptions& options() const;

 private:
  template <typename Token>
  auto command_with_timeout(const Command& command, milliseconds timeout, Token&& token) {
    // co_await on an awaitable token starts the operation later, from a copy of `command`: the
    // caller's arguments need not outlive this call.
    return boost::asio::async_initiate<Token, void(std::error_code, Reply)>(
        [this](auto handler, const Command& c, milliseconds t) { submit(c, t, std::move(handler)); }, token,
        command, timeout);
  }
  void submit(const Command& command, milliseconds timeout,
              boost::asio::any_completion_handler<void(std::error_code, Reply)> handler);

  std::shared_ptr<Session> session_;
};

}  // namespace jobd::store::redis
