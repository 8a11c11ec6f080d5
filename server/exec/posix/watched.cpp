#include "exec/posix/watched.hpp"

#include <sys/wait.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>

#include "exec/posix/child_process.hpp"

namespace jobd::exec::posix {

namespace asio = boost::asio;

asio::awaitable<ExitWait> wait_for_exit(WatchedFd& pidfd) {
  constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
  for (;;) {
    auto [error] = co_await pidfd.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    if (!pidfd.is_open()) co_return ExitWait{ExitWait::Result::aborted, "the pidfd was closed"};
    siginfo_t peek{};
    rusage ignored{};
    const int found = wait_pidfd(pidfd.native_handle(), peek, ignored, WNOHANG | WNOWAIT);
    if (found != 0) {
      const int failure = errno;
      co_return ExitWait{ExitWait::Result::lost, std::strerror(failure)};
    }
    if (peek.si_pid != 0) co_return ExitWait{ExitWait::Result::exited, {}};
    if (error) co_return ExitWait{ExitWait::Result::aborted, error.message()};
    // Readable, yet running: a stale report (see the header). Wait again.
  }
}

}  // namespace jobd::exec::posix
