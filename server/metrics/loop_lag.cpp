#include "metrics/loop_lag.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jobd::metrics {

namespace asio = boost::asio;

namespace {
asio::awaitable<void> sample(asio::any_io_executor loop, Histogram& lag, std::chrono::milliseconds slow) {
  asio::steady_timer timer(loop);
  for (;;) {
    const auto due = std::chrono::steady_clock::now() + kLagSampleInterval;
    timer.expires_at(due);
    auto [error] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (error) co_return;
    const auto late = std::chrono::steady_clock::now() - due;
    lag.observe(std::chrono::duration<double>(late).count());
    if (late > slow) {
      spdlog::warn("event loop blocked for {} ms (last started on the loop: {})",
                   std::chrono::duration_cast<std::chrono::milliseconds>(late).count(), loop_activity);
    }
  }
}
}  // namespace

void start_lag_sampler(const asio::any_io_executor& loop, Histogram& lag, std::chrono::milliseconds slow) {
  asio::co_spawn(loop, sample(loop, lag, slow), asio::detached);
}

}  // namespace jobd::metrics
