// Session, the loop side of one connection: sending, matching replies, deadlines, health.
// (Connecting and reconnecting: session_lifecycle.cpp.)
#include "store/redis/session.hpp"

#include <spdlog/logger.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "store/redis/error.hpp"
#include "store/redis/hiredis_reply.hpp"

namespace jobd::store::redis {

namespace asio = boost::asio;

namespace {

// A name for logs: where, and which of the replica's connections.
std::string session_name(const RedisOptions& options) {
  std::string name = options.endpoint.display();
  if (!options.client_name.empty()) name += " (" + options.client_name + ")";
  return name;
}

}  // namespace

std::shared_ptr<Session> Session::create(asio::any_io_executor loop, RedisOptions options, Mode mode) {
  return std::shared_ptr<Session>(new Session(std::move(loop), std::move(options), mode));
}

Session::Session(asio::any_io_executor loop, RedisOptions options, Mode mode)
    : loop_(std::move(loop)),
      options_(std::move(options)),
      mode_(mode),
      name_(session_name(options_)),
      log_(options_.logger ? options_.logger : spdlog::default_logger()),
      link_(HiredisLink::create(loop_, *this)),
      deadline_timer_(loop_),
      wake_(loop_),
      backoff_(options_.backoff_min, options_.backoff_max, std::random_device{}()) {
  counters_.endpoint = options_.endpoint.display();
}

Session::~Session() {
  // Normally stop() ran first (the public classes call it); this only makes sure that hiredis
  // never calls back into a destroyed session.
  stopped_ = true;
  link_->detach();
  link_->close("the session was destroyed");
}

void Session::start() {
  if (started_ || stopped_) return;
  started_ = true;
  auto log = log_;
  auto report = [log, name = name_](const std::exception_ptr& escaped) {
    if (!escaped) return;
    try {
      std::rethrow_exception(escaped);
    } catch (const std::exception& e) {
      log->error("redis {}: connection coroutine ended by an exception: {}", name, e.what());
    }
  };
  asio::co_spawn(loop_, run(), report);
  asio::co_spawn(loop_, watch_deadlines(), report);
}

void Session::stop() {
  if (stopped_) return;
  stopped_ = true;
  state_ = RedisState::stopped;
  link_->close("stopped");  // what is in flight completes with connection_lost
  wake_.cancel();
  deadline_timer_.cancel();
  notify_ready_waiters();
}

void Session::submit(const Command& command, milliseconds timeout, ReplyHandler handler) {
  send(command, timeout, std::move(handler), Gate::connected, 1);
}

void Session::subscribe(Subscription kind, const std::string& name, ReplyHandler handler) {
  (kind == Subscription::channel ? channels_ : patterns_).insert(name);
  const Command command = Command::of(kind == Subscription::channel ? "SUBSCRIBE" : "PSUBSCRIBE", name);
  send(command, options_.command_timeout, std::move(handler), Gate::connected, 1);
}

void Session::send(const Command& command, milliseconds timeout, ReplyHandler handler, Gate gate,
                   std::size_t replies) {
  std::error_code refusal;
  if (stopped_) {
    refusal = RedisError::stopped;
  } else if (command.empty()) {
    refusal = RedisError::invalid_command;
  } else if (!link_->connected() || (gate == Gate::connected && state_ != RedisState::connected)) {
    refusal = RedisError::unavailable;  // fail fast: never queue while Redis is away
  } else if (pending_.size() >= options_.max_in_flight) {
    refusal = RedisError::too_many_pending;
  } else {
    // SUBSCRIBE and PSUBSCRIBE replies reach hiredis's per-channel callback, the rest its queue.
    const bool subscription =
        mode_ == Mode::pubsub && (command.name() == "SUBSCRIBE" || command.name() == "PSUBSCRIBE");
    const std::string bytes = command.encoded();
    if (!link_->send(bytes, subscription ? &Session::on_pubsub_callback : &Session::on_reply_callback,
                     this)) {
      refusal = RedisError::unavailable;
    }
  }
  if (refusal) {
    finish(std::move(handler), refusal, Reply());
    return;
  }
  const Clock::time_point now = Clock::now();
  const Clock::time_point deadline = now + timeout;
  pending_.push(Pending{std::move(handler), now, replies}, deadline);
  counters_.in_flight_peak = std::max(counters_.in_flight_peak, pending_.size());
  // watch_deadlines() sleeps until the earliest deadline; wake it to re-arm if this one is sooner.
  if (deadline < deadline_timer_.expiry()) deadline_timer_.cancel();
}

void Session::finish(ReplyHandler handler, std::error_code ec, Reply reply) {
  // Through the handler's own executor (the awaiting coroutine's), never inline.
  asio::post(loop_, asio::append(std::move(handler), ec, std::move(reply)));
}

void Session::on_reply_callback(redisAsyncContext*, void* reply, void* privdata) {
  static_cast<Session*>(privdata)->on_reply(static_cast<const redisReply*>(reply));
}

void Session::on_pubsub_callback(redisAsyncContext*, void* reply, void* privdata) {
  static_cast<Session*>(privdata)->on_pubsub(static_cast<const redisReply*>(reply));
}

std::error_code Session::unanswered_error(Clock::time_point deadline) const {
  return deadline <= Clock::now() ? make_error_code(RedisError::timeout)
                                  : make_error_code(RedisError::connection_lost);
}

void Session::complete_front(Reply reply) {
  const Clock::time_point now = Clock::now();
  Pending entry = pending_.pop();
  const auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(now - entry.sent);
  counters_.last_rtt = rtt;
  rtt_ewma_us_ += (static_cast<double>(rtt.count()) - rtt_ewma_us_) / 16.0;
  ++counters_.commands;
  last_reply_at_ = now;
  finish(std::move(entry.handler), {}, std::move(reply));
}

void Session::on_reply(const redisReply* reply) {
  if (pending_.empty()) return;  // cannot happen: every command sent has its entry
  if (reply == nullptr) {        // the context is being freed: this command got no reply
    const Clock::time_point deadline = pending_.front_deadline();
    Pending entry = pending_.pop();
    finish(std::move(entry.handler), unanswered_error(deadline), Reply());
    return;
  }
  complete_front(from_hiredis(*reply));
}

void Session::on_pubsub(const redisReply* reply) {
  // A null reply: the context is going away; on_link_closed() fails what is still in flight.
  if (reply == nullptr) return;
  PubSubEvent event = parse_pubsub(from_hiredis(*reply));
  if (event.kind == PubSubEvent::Kind::message) {
    last_reply_at_ = Clock::now();
    if (!on_message_) return;
    asio::post(loop_, [self = weak_from_this(), message = std::move(event.message)] {
      auto session = self.lock();
      if (session && !session->stopped_ && session->on_message_) session->on_message_(message);
    });
    return;
  }
  // Confirmations come in the order of the SUBSCRIBE commands, one per name.
  if (event.kind != PubSubEvent::Kind::subscribed || pending_.empty()) return;
  if (--pending_.front().replies_left > 0) return;
  complete_front(Reply::array(
      {Reply::string("subscribe"), Reply::string(std::move(event.name)), Reply::integer(event.count)}));
}

void Session::on_link_connected() { wake_.cancel(); }

void Session::on_link_closed(std::string_view reason) {
  link_closed_reason_ = scrub(reason);
  // Pub/sub replies are not queued in hiredis (its per-channel callbacks cannot tell which
  // SUBSCRIBE a null reply belongs to): what is left in flight fails here.
  while (!pending_.empty()) {
    const Clock::time_point deadline = pending_.front_deadline();
    Pending entry = pending_.pop();
    finish(std::move(entry.handler), unanswered_error(deadline), Reply());
  }
  if (state_ == RedisState::connected && !stopped_) {
    state_ = RedisState::disconnected;
    lost_at_ = Clock::now();
    last_error_ = "connection lost: " + link_closed_reason_;
    log_->warn("redis {}: {}; reconnecting", name_, last_error_);
  }
  wake_.cancel();
}

asio::awaitable<std::error_code> Session::wait_ready(milliseconds timeout) {
  auto self = shared_from_this();
  asio::steady_timer timer(loop_, timeout);
  const std::uint64_t attempts_before = attempts_finished_;
  for (;;) {
    if (stopped_) co_return RedisError::stopped;
    if (state_ == RedisState::connected) co_return std::error_code();
    if (attempts_finished_ > attempts_before && last_attempt_error_) co_return last_attempt_error_;
    // Registered only while suspended, and unregistered even if the frame is destroyed there
    // (a loop torn down with this coroutine waiting).
    struct Registration {
      std::vector<asio::steady_timer*>& waiters;
      asio::steady_timer* timer;
      ~Registration() { std::erase(waiters, timer); }
    };
    const Registration registration{ready_waiters_, &timer};
    ready_waiters_.push_back(&timer);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!ec) co_return RedisError::timeout;
  }
}

void Session::notify_ready_waiters() {
  for (asio::steady_timer* timer : ready_waiters_) timer->cancel();
}

RedisHealth Session::health() const {
  RedisHealth health = counters_;
  health.state = state_;
  health.last_error = last_error_;
  health.in_flight = pending_.size();
  health.rtt_ewma = std::chrono::microseconds(static_cast<std::int64_t>(rtt_ewma_us_));
  return health;
}

std::string Session::scrub(std::string_view text) const {
  std::string out(text);
  const std::string_view secret = options_.password.reveal();
  if (secret.empty()) return out;
  for (std::size_t at = out.find(secret); at != std::string::npos; at = out.find(secret, at)) {
    out.replace(at, secret.size(), "[redacted]");
  }
  return out;
}

}  // namespace jobd::store::redis
