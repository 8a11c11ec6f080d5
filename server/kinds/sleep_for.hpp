// An awaitable wait on the loop: `co_await sleep_for(d)` resumes the coroutine after `d`. A
// cancelled wait just ends early (nothing is thrown). In kinds/, the lowest folder with Asio
// that both app/ (the drain, the retention sweep) and cluster/ (retries, lease and poll timers)
// may include; a loop kind may use it too.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>

namespace jobd::kinds {

// Defined in sleep_for.cpp, not inline here: GCC gives an inline coroutine's frame a type per
// translation unit, which link-time optimization reports as an ODR violation (-Wodr).
boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds duration);

}  // namespace jobd::kinds
