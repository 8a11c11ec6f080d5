#include "store/redis/subscriber.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "store/redis/session.hpp"

namespace jobd::store::redis {

namespace asio = boost::asio;

RedisSubscriber::RedisSubscriber(asio::any_io_executor loop, RedisOptions options, MessageHandler on_message)
    : session_(Session::create(std::move(loop), std::move(options), Session::Mode::pubsub)) {
  session_->on_message(std::move(on_message));
}

RedisSubscriber::~RedisSubscriber() { stop(); }

void RedisSubscriber::on_connected(std::function<void()> handler) {
  session_->on_connected(std::move(handler));
}
void RedisSubscriber::start() { session_->start(); }
void RedisSubscriber::stop() { session_->stop(); }

asio::awaitable<std::error_code> RedisSubscriber::subscribe(std::string channel) {
  return add(false, std::move(channel));
}

asio::awaitable<std::error_code> RedisSubscriber::psubscribe(std::string pattern) {
  return add(true, std::move(pattern));
}

asio::awaitable<std::error_code> RedisSubscriber::add(bool pattern, std::string name) {
  auto session = session_;
  const auto kind = pattern ? Session::Subscription::pattern : Session::Subscription::channel;
  auto [ec, reply] = co_await asio::async_initiate<const asio::as_tuple_t<asio::use_awaitable_t<>>&,
                                                   void(std::error_code, Reply)>(
      [&session, &name, kind](auto handler) { session->subscribe(kind, name, std::move(handler)); },
      asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

asio::awaitable<std::error_code> RedisSubscriber::wait_ready(milliseconds timeout) {
  return session_->wait_ready(timeout);
}

RedisHealth RedisSubscriber::health() const { return session_->health(); }

}  // namespace jobd::store::redis
