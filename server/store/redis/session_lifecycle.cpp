// Session's lifecycle: connect, set up, stay connected, and after a loss back off and start
// again; and the deadline watcher that resets a connection whose reply did not come in time.
#include <spdlog/logger.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "store/redis/error.hpp"
#include "store/redis/session.hpp"

namespace jobd::store::redis {

namespace asio = boost::asio;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Nobody publishes here: re-subscribing to it is the pub/sub connection's PING (hiredis 0.14
// drops the reply to a PING sent on a subscribed connection, so the PING itself cannot be used).
constexpr const char* kProbeChannel = "__jobd:redis-probe__";

long long as_ms(milliseconds d) { return static_cast<long long>(d.count()); }

}  // namespace

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();  // the loop may outlive the owner: keep the session alive
  while (!stopped_) {
    state_ = RedisState::connecting;
    std::string why;
    std::error_code ec = co_await connect(why);
    if (!ec) ec = co_await set_up(why);
    ++attempts_finished_;
    if (stopped_) break;
    if (!ec) {
      established();
      co_await stay_connected();
    } else {
      link_->close(why);  // a half-set-up connection is of no use
      attempt_failed(ec, why);
    }
    if (stopped_) break;
    state_ = RedisState::disconnected;
    wake_.expires_after(backoff_.next());
    co_await wake_.async_wait(use_tuple);  // stop() cancels it
  }
  state_ = RedisState::stopped;
  notify_ready_waiters();
}

asio::awaitable<std::error_code> Session::connect(std::string& why) {
  const RedisEndpoint& endpoint = options_.endpoint;
  if (endpoint.transport == RedisEndpoint::Transport::unix_socket)
    co_return co_await connect_to(endpoint.path, why);
  // hiredis 0.14 would call getaddrinfo on the loop (blocking on DNS): resolve with Asio (its
  // resolver thread) and hand hiredis numeric addresses only, trying each in turn.
  std::vector<std::string> addresses;
  boost::system::error_code parse_error;
  asio::ip::make_address(endpoint.host, parse_error);
  if (!parse_error) {
    addresses.push_back(endpoint.host);
  } else {
    asio::ip::tcp::resolver resolver(loop_);
    const std::string port = std::to_string(endpoint.port);
    auto [ec, results] = co_await resolver.async_resolve(endpoint.host, port, use_tuple);
    if (ec) {
      why = "cannot resolve " + endpoint.host + ": " + ec.message();
      co_return RedisError::connect_failed;
    }
    for (const auto& entry : results) addresses.push_back(entry.endpoint().address().to_string());
  }
  for (const std::string& address : addresses) {
    if (stopped_) break;
    if (!co_await connect_to(address, why)) co_return std::error_code();
  }
  co_return RedisError::connect_failed;
}

asio::awaitable<std::error_code> Session::connect_to(const std::string& address, std::string& why) {
  const bool tcp = options_.endpoint.transport == RedisEndpoint::Transport::tcp;
  redisAsyncContext* context = tcp ? redisAsyncConnect(address.c_str(), options_.endpoint.port)
                                   : redisAsyncConnectUnix(address.c_str());
  if (context == nullptr) {
    why = "cannot allocate a hiredis context";
    co_return RedisError::connect_failed;
  }
  if (context->err != 0) {  // failed at once (a unix socket that does not exist, no descriptors)
    why = "cannot connect to " + address + ": " + context->errstr;
    redisAsyncFree(context);
    co_return RedisError::connect_failed;
  }
  // A half-open TCP connection (a peer that vanished) is noticed even on an idle connection.
  if (tcp) redisEnableKeepAlive(&context->c);
  link_closed_reason_.clear();
  link_->adopt(context);
  const Clock::time_point deadline = Clock::now() + options_.connect_timeout;
  while (link_->open() && !link_->connected() && !stopped_ && Clock::now() < deadline) {
    wake_.expires_at(deadline);
    co_await wake_.async_wait(use_tuple);  // on_link_connected / on_link_closed cancel it
  }
  if (link_->connected()) co_return std::error_code();
  if (link_->open()) {
    why = "connecting to " + address + " timed out after " + std::to_string(as_ms(options_.connect_timeout)) +
          " ms";
    link_->close(why);
  } else {
    why = "cannot connect to " + address + ": " + link_closed_reason_;
  }
  co_return RedisError::connect_failed;
}

asio::awaitable<Session::Result> Session::setup_command(const Command& command, std::size_t replies) {
  co_return co_await asio::async_initiate<decltype(use_tuple), void(std::error_code, Reply)>(
      [this, &command, replies](auto handler) {
        send(command, options_.connect_timeout, std::move(handler), Gate::setup, replies);
      },
      use_tuple);
}

std::error_code Session::setup_failed(std::string_view step, std::error_code ec, const Reply& reply,
                                      std::string& why) const {
  why = std::string(step) + " failed: " + (ec ? ec.message() : scrub(reply.text()));
  if (ec == RedisError::connection_lost && !link_closed_reason_.empty())
    why += " (" + link_closed_reason_ + ")";
  if (ec) return RedisError::handshake_failed;  // timed out or lost: the next attempt may do better
  if (reply.is_error_code("NOAUTH")) {
    why += " (give the password in JOBD_REDIS_PASSWORD or JOBD_REDIS_PASSWORD_FILE)";
    return RedisError::auth_failed;
  }
  if (step == "AUTH") return RedisError::auth_failed;
  return RedisError::handshake_failed;
}

asio::awaitable<std::error_code> Session::set_up(std::string& why) {
  // Each step waits for its reply before the next: a refused AUTH must not be followed by
  // commands that would only fail with NOAUTH. Set-up runs once per connection, so the few
  // round trips do not matter.
  const RedisEndpoint& endpoint = options_.endpoint;
  if (!options_.password.empty()) {
    Command auth = Command::of("AUTH");
    if (!endpoint.username.empty()) auth.arg(endpoint.username);
    auth.arg(options_.password.reveal());
    auto [ec, reply] = co_await setup_command(auth, 1);
    if (ec || reply.is_error()) co_return setup_failed("AUTH", ec, reply, why);
  }
  if (endpoint.db != 0) {
    const Command select = Command::of("SELECT", endpoint.db);
    auto [ec, reply] = co_await setup_command(select, 1);
    if (ec || reply.is_error())
      co_return setup_failed("SELECT " + std::to_string(endpoint.db), ec, reply, why);
  }
  if (!options_.client_name.empty()) {
    const Command name = Command::of("CLIENT", "SETNAME", options_.client_name);
    auto [ec, reply] = co_await setup_command(name, 1);
    if (ec || reply.is_error()) co_return setup_failed("CLIENT SETNAME", ec, reply, why);
  }
  // PING: Redis answers it only when it can serve (-LOADING while it reads its AOF). Also
  // before subscribing: hiredis 0.14 takes an error reply to a SUBSCRIBE (-NOAUTH) for a
  // spontaneous server error and drops the connection, which would hide a clear refusal.
  const Command ping = Command::of("PING");
  auto [ec, reply] = co_await setup_command(ping, 1);
  if (ec || reply.is_error()) co_return setup_failed("PING", ec, reply, why);
  if (mode_ == Mode::pubsub) co_return co_await resubscribe(why);
  co_return std::error_code();
}

asio::awaitable<std::error_code> Session::resubscribe(std::string& why) {
  // The probe channel first, so the connection is subscribed (and probe-able) even with no
  // subscription of its own; then everything subscribed before, in one command per kind.
  Command channels = Command::of("SUBSCRIBE", kProbeChannel);
  for (const std::string& channel : channels_) channels.arg(channel);
  auto [ec, reply] = co_await setup_command(channels, channels.size() - 1);
  if (ec || reply.is_error()) co_return setup_failed("SUBSCRIBE", ec, reply, why);
  if (patterns_.empty()) co_return std::error_code();
  Command patterns = Command::of("PSUBSCRIBE");
  for (const std::string& pattern : patterns_) patterns.arg(pattern);
  auto [pattern_ec, pattern_reply] = co_await setup_command(patterns, patterns.size() - 1);
  if (pattern_ec || pattern_reply.is_error())
    co_return setup_failed("PSUBSCRIBE", pattern_ec, pattern_reply, why);
  co_return std::error_code();
}

void Session::established() {
  state_ = RedisState::connected;
  last_reply_at_ = Clock::now();
  ++counters_.connects;
  if (counters_.connects > 1) {
    ++counters_.reconnects;
    const auto outage = std::chrono::duration_cast<milliseconds>(Clock::now() - lost_at_);
    log_->info("redis {}: reconnected after {} ms ({} failed attempts)", name_, as_ms(outage),
               failures_in_a_row_);
  } else {
    log_->info("redis {}: connected", name_);
  }
  failures_in_a_row_ = 0;
  backoff_.reset();
  last_attempt_error_.clear();
  notify_ready_waiters();
  if (on_connected_) on_connected_();
}

void Session::attempt_failed(std::error_code ec, const std::string& why) {
  last_error_ = scrub(why);
  last_attempt_error_ = ec;
  ++counters_.failed_attempts;
  if (failures_in_a_row_++ == 0) {
    if (lost_at_ == Clock::time_point{}) lost_at_ = Clock::now();
    log_->warn("redis {}: {}; retrying with backoff up to {} ms", name_, last_error_,
               as_ms(options_.backoff_max));
  } else {
    log_->debug("redis {}: attempt {} failed: {}", name_, failures_in_a_row_, last_error_);
  }
  notify_ready_waiters();
}

asio::awaitable<void> Session::stay_connected() {
  while (!stopped_ && link_->connected()) {
    wake_.expires_after(options_.probe_interval);
    auto [ec] = co_await wake_.async_wait(use_tuple);
    if (stopped_ || !link_->connected()) break;
    // Traffic proves the connection alive; an idle one gets a probe, whose timeout (through
    // watch_deadlines) resets a connection to a server that stopped answering.
    if (ec || !pending_.empty() || Clock::now() - last_reply_at_ < options_.probe_interval) continue;
    const Command probe =
        mode_ == Mode::pubsub ? Command::of("SUBSCRIBE", kProbeChannel) : Command::of("PING");
    auto [probe_ec, reply] = co_await asio::async_initiate<decltype(use_tuple), void(std::error_code, Reply)>(
        [this, &probe](auto handler) {
          send(probe, options_.command_timeout, std::move(handler), Gate::connected, 1);
        },
        use_tuple);
    (void)probe_ec;
    (void)reply;
  }
}

asio::awaitable<void> Session::watch_deadlines() {
  auto self = shared_from_this();
  while (!stopped_) {
    deadline_timer_.expires_at(pending_.empty() ? Clock::time_point::max() : pending_.earliest());
    auto [ec] = co_await deadline_timer_.async_wait(use_tuple);
    if (stopped_) break;
    if (ec || pending_.empty() || pending_.earliest() > Clock::now()) continue;  // re-armed, or answered
    ++counters_.timeouts;
    // on_link_closed (or the failed set-up) logs it and records it as the last error.
    link_->close("a command got no reply within its timeout: the connection is reset");
  }
}

}  // namespace jobd::store::redis
