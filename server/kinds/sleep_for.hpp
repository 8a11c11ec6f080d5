// An awaitable wait on the loop: `co_await sleep_for(d)` resumes the coroutine after `d`. A
// cancelled wait just ends early (nothing is thrown). In kinds/, the lowest folder with Asio
// that both app/ (the drain, the retention sweep) and cluster/ (retries, lease and poll timers)
// may include; a loop kind may use it too.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace jobd::kinds {

inline boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, duration);
  co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

}  // namespace jobd::kinds
