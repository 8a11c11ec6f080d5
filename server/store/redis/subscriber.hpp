// RedisSubscriber: jobd's Pub/Sub connection to Redis (the store's event and control channels).
//
//   RedisSubscriber events(loop, options, [](const PubSubMessage& m) { ... });
//   events.start();
//   std::error_code ec = co_await events.subscribe("jobd:events");
//
// Messages are delivered to the handler on the loop, in the order Redis sent them. The set of
// channels and patterns is remembered: after a reconnect they are all subscribed again before
// the connection counts as connected, and on_connected runs, because Pub/Sub does not keep
// messages: whatever was published while the connection was down is lost, and a reader that
// cares must catch up from the data (a stream, a hash) instead.
//
// An idle subscribed connection is probed by subscribing again to a private channel (hiredis
// 0.14 drops the reply to a PING on a subscribed connection); no reply in time resets it.
// Unsubscribing is not offered: hiredis 0.14 drops (P)UNSUBSCRIBE confirmations for names it
// does not know, which would desynchronise the confirmations this class counts.
//
// Must never: block the loop, run the handler off the loop or inside hiredis, or outlive the
// io_context's run.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "store/redis/health.hpp"
#include "store/redis/options.hpp"
#include "store/redis/pubsub.hpp"

namespace jobd::store::redis {

class Session;

class RedisSubscriber {
 public:
  using MessageHandler = std::function<void(const PubSubMessage&)>;

  RedisSubscriber(boost::asio::any_io_executor loop, RedisOptions options, MessageHandler on_message);
  ~RedisSubscriber();  // stop()
  RedisSubscriber(const RedisSubscriber&) = delete;
  RedisSubscriber& operator=(const RedisSubscriber&) = delete;

  // After every completed (re)connection and re-subscription, on the loop.
  void on_connected(std::function<void()> handler);
  void start();
  void stop();

  // Adds `channel` (or the glob `pattern`) to the set and subscribes now if connected: {} once
  // Redis confirmed; unavailable while disconnected (it is subscribed on reconnect); timeout
  // (the connection is reset and it is subscribed on reconnect).
  boost::asio::awaitable<std::error_code> subscribe(std::string channel);
  boost::asio::awaitable<std::error_code> psubscribe(std::string pattern);

  boost::asio::awaitable<std::error_code> wait_ready(milliseconds timeout);
  RedisHealth health() const;

 private:
  boost::asio::awaitable<std::error_code> add(bool pattern, std::string name);
  std::shared_ptr<Session> session_;
};

}  // namespace jobd::store::redis
