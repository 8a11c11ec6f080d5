// Session: one logical connection to Redis that outlives its TCP connections; the machinery
// behind RedisConnection and RedisSubscriber (their headers are the API).
//
// Owns the HiredisLink, the commands in flight (a DeadlineQueue), and two coroutines on the loop:
//   run()              connect (names resolved by Asio, never by hiredis's blocking getaddrinfo),
//                      set up (AUTH, SELECT, CLIENT SETNAME, then PING, or the subscriptions in
//                      pub/sub mode), stay connected (probing an idle connection), and after a
//                      loss wait a jittered backoff and start again.
//   watch_deadlines()  one timer at the earliest deadline in flight; when it passes, the
//                      connection is closed, because its reply stream can no longer be trusted
//                      to match the commands (a late reply would be taken for the next one's).
// Closing a connection completes every command in flight: `timeout` for those past their
// deadline, `connection_lost` for the others. While not connected, commands complete at once
// with `unavailable`: nothing queues without bound while Redis is away.
//
// Every completion is posted to the loop, never run inside a hiredis callback, so the code that
// awaits a reply may send the next command or destroy the connection.
//
// Must never: block the loop, log or store a password (server texts are scrubbed), or run a
// completion inside hiredis.
#pragma once

#include <hiredis/async.h>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "store/redis/backoff.hpp"
#include "store/redis/command.hpp"
#include "store/redis/deadline_queue.hpp"
#include "store/redis/health.hpp"
#include "store/redis/hiredis_link.hpp"
#include "store/redis/options.hpp"
#include "store/redis/pubsub.hpp"
#include "store/redis/reply.hpp"

namespace spdlog {
class logger;
}

namespace jobd::store::redis {

using ReplyHandler = boost::asio::any_completion_handler<void(std::error_code, Reply)>;

class Session final : public std::enable_shared_from_this<Session>, private HiredisLink::Listener {
 public:
  enum class Mode { commands, pubsub };
  enum class Subscription { channel, pattern };
  using Clock = std::chrono::steady_clock;

  static std::shared_ptr<Session> create(boost::asio::any_io_executor loop, RedisOptions options, Mode mode);
  ~Session();

  void start();
  void stop();

  // Sends `command` if connected; `handler` gets the reply or an error, always posted.
  void submit(const Command& command, milliseconds timeout, ReplyHandler handler);
  // Pub/sub mode: remembers `name` (subscribed again after every reconnect) and, if connected,
  // subscribes now; `handler` gets the confirmation, or `unavailable` while disconnected.
  void subscribe(Subscription kind, const std::string& name, ReplyHandler handler);
  void on_message(std::function<void(const PubSubMessage&)> handler) { on_message_ = std::move(handler); }
  // After every completed set-up (both modes): pub/sub messages sent meanwhile were lost.
  void on_connected(std::function<void()> handler) { on_connected_ = std::move(handler); }

  boost::asio::awaitable<std::error_code> wait_ready(milliseconds timeout);
  RedisHealth health() const;
  const RedisOptions& options() const { return options_; }

 private:
  struct Pending {
    ReplyHandler handler;
    Clock::time_point sent;
    std::size_t replies_left;  // pub/sub: one confirmation per channel of a SUBSCRIBE
  };
  enum class Gate { connected, setup };
  using Result = std::tuple<std::error_code, Reply>;

  Session(boost::asio::any_io_executor loop, RedisOptions options, Mode mode);
  static void on_reply_callback(redisAsyncContext* context, void* reply, void* privdata);
  static void on_pubsub_callback(redisAsyncContext* context, void* reply, void* privdata);
  void on_reply(const redisReply* reply);
  void on_pubsub(const redisReply* reply);
  void on_link_connected() override;
  void on_link_closed(std::string_view reason) override;

  void send(const Command& command, milliseconds timeout, ReplyHandler handler, Gate gate,
            std::size_t replies);
  void finish(ReplyHandler handler, std::error_code ec, Reply reply);
  void complete_front(Reply reply);
  std::error_code unanswered_error(Clock::time_point deadline) const;
  void notify_ready_waiters();
  std::string scrub(std::string_view text) const;

  // session_lifecycle.cpp
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> watch_deadlines();
  boost::asio::awaitable<std::error_code> connect(std::string& why);
  boost::asio::awaitable<std::error_code> connect_to(const std::string& address, std::string& why);
  boost::asio::awaitable<std::error_code> set_up(std::string& why);
  boost::asio::awaitable<std::error_code> resubscribe(std::string& why);
  boost::asio::awaitable<Result> setup_command(const Command& command, std::size_t replies);
  std::error_code setup_failed(std::string_view step, std::error_code ec, const Reply& reply,
                               std::string& why) const;
  boost::asio::awaitable<void> stay_connected();
  void established();
  void attempt_failed(std::error_code ec, const std::string& why);

  boost::asio::any_io_executor loop_;
  const RedisOptions options_;
  const Mode mode_;
  const std::string name_;  // for logs: the endpoint and the client name
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<HiredisLink> link_;
  DeadlineQueue<Pending> pending_;
  boost::asio::steady_timer deadline_timer_;  // watch_deadlines() waits on it
  boost::asio::steady_timer wake_;            // run() waits on it; link events and stop() cancel it
  ReconnectBackoff backoff_;
  std::vector<boost::asio::steady_timer*> ready_waiters_;  // wait_ready() callers, woken by cancel()
  std::set<std::string> channels_;
  std::set<std::string> patterns_;
  std::function<void(const PubSubMessage&)> on_message_;
  std::function<void()> on_connected_;

  bool started_ = false;
  bool stopped_ = false;
  RedisState state_ = RedisState::connecting;
  std::string last_error_;
  std::string link_closed_reason_;
  std::error_code last_attempt_error_;
  std::uint64_t attempts_finished_ = 0;
  int failures_in_a_row_ = 0;
  Clock::time_point lost_at_{};
  Clock::time_point last_reply_at_{};
  RedisHealth counters_;  // the counting fields of health()
  double rtt_ewma_us_ = 0;
};

}  // namespace jobd::store::redis
