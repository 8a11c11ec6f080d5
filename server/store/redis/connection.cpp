#include "store/redis/connection.hpp"

#include "store/redis/session.hpp"

namespace jobd::store::redis {

RedisConnection::RedisConnection(boost::asio::any_io_executor loop, RedisOptions options)
    : session_(Session::create(std::move(loop), std::move(options), Session::Mode::commands)) {}

RedisConnection::~RedisConnection() { stop(); }

void RedisConnection::start() { session_->start(); }
void RedisConnection::stop() { session_->stop(); }

void RedisConnection::submit(const Command& command, milliseconds timeout,
                             boost::asio::any_completion_handler<void(std::error_code, Reply)> handler) {
  session_->submit(command, timeout, std::move(handler));
}

boost::asio::awaitable<std::error_code> RedisConnection::wait_ready(milliseconds timeout) {
  return session_->wait_ready(timeout);
}

RedisHealth RedisConnection::health() const { return session_->health(); }
const RedisOptions& RedisConnection::options() const { return session_->options(); }

}  // namespace jobd::store::redis
