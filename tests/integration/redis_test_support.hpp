// What the Redis client's integration tests share: a loop that runs one awaitable to its end
// (so a test reads top to bottom and may use ASSERT_*), and a logger whose lines a test can read.
#pragma once

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include "store/redis/reply.hpp"

namespace jobd::store::redis {
// gtest prints a Reply the way redis-cli does, instead of its bytes.
inline void PrintTo(const Reply& reply, std::ostream* out) { *out << describe(reply); }
}  // namespace jobd::store::redis

namespace jobd::testing {

using namespace std::chrono_literals;

class TestLoop {
 public:
  boost::asio::io_context io;

  // Runs the loop until `work` completes and returns its value; throws (failing the test) if it
  // takes longer than `limit`.
  template <typename T>
  T await(boost::asio::awaitable<T> work, std::chrono::milliseconds limit = 10s) {
    auto state = std::make_shared<State<T>>();
    boost::asio::co_spawn(io, std::move(work), [state](const std::exception_ptr& error, T value) {
      state->done = true;
      state->error = error;
      if (!error) state->value.emplace(std::move(value));
    });
    run_until([&] { return state->done; }, limit, "await");
    if (state->error) std::rethrow_exception(state->error);
    return std::move(*state->value);
  }

  void await(boost::asio::awaitable<void> work, std::chrono::milliseconds limit = 10s) {
    auto state = std::make_shared<State<int>>();
    boost::asio::co_spawn(io, std::move(work), [state](const std::exception_ptr& error) {
      state->done = true;
      state->error = error;
    });
    run_until([&] { return state->done; }, limit, "await");
    if (state->error) std::rethrow_exception(state->error);
  }

  // Runs the loop until `done()` holds; throws after `limit`.
  void run_until(const std::function<bool()>& done, std::chrono::milliseconds limit,
                 const char* what = "condition") {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) throw std::runtime_error(std::string(what) + " not reached in time");
      if (io.stopped()) io.restart();
      io.run_one_for(deadline - now);
    }
  }

  // Runs the loop for `duration` (background work: reconnects, probes).
  void run_for(std::chrono::milliseconds duration) {
    if (io.stopped()) io.restart();
    io.run_for(duration);
  }

 private:
  template <typename T>
  struct State {
    bool done = false;
    std::exception_ptr error;
    std::optional<T> value;
  };
};

// A logger writing into a string the test can read (and check for what must never be logged).
struct CapturedLog {
  std::ostringstream lines;
  std::shared_ptr<spdlog::logger> logger =
      std::make_shared<spdlog::logger>("redis-test", std::make_shared<spdlog::sinks::ostream_sink_st>(lines));
  CapturedLog() { logger->set_level(spdlog::level::debug); }
  std::string text() const { return lines.str(); }
};

using Clock = std::chrono::steady_clock;

inline long long elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

inline boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, duration);
  co_await timer.async_wait(boost::asio::use_awaitable);
}

}  // namespace jobd::testing
