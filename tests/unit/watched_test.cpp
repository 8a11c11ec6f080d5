// The stale-readiness rule of exec/posix/watched, against the real hazard: a socket that Asio
// closes without deregistering it (its open file lives on elsewhere, as in a vfork child)
// leaves an epoll registration whose events land on the next descriptor Asio registers, here a
// live child's pidfd. wait_for_exit must not take that for an exit. Also: a real exit is seen
// and reaped with its status, a child reaped elsewhere is lost, and closing the pidfd aborts.
#include <gtest/gtest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <optional>

#include "exec/posix/child_process.hpp"
#include "exec/posix/watched.hpp"

using namespace jobd::exec;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

// A child that sleeps until killed; killed and reaped at the end of the test if still there.
class SleepingChild {
 public:
  SleepingChild() {
    char program[] = "/bin/sleep";
    char seconds[] = "30";
    char* argv[] = {program, seconds, nullptr};
    if (::posix_spawn(&pid_, program, nullptr, nullptr, argv, environ) != 0) pid_ = -1;
    pidfd_ = posix::open_pidfd(pid_);
  }
  ~SleepingChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (pidfd_ >= 0) ::close(pidfd_);
  }
  pid_t pid() const { return pid_; }
  // The pidfd, for a WatchedFd to own.
  int release_pidfd() { return std::exchange(pidfd_, -1); }
  void forget() { pid_ = -1; }  // reaped by the test

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
};

// Runs wait_for_exit on `pidfd` in the background; its result once it returned.
std::shared_ptr<std::optional<posix::ExitWait>> start_waiting(asio::io_context& loop,
                                                              posix::WatchedFd& pidfd) {
  auto result = std::make_shared<std::optional<posix::ExitWait>>();
  asio::co_spawn(
      loop, [&pidfd, result]() -> asio::awaitable<void> { *result = co_await posix::wait_for_exit(pidfd); },
      asio::detached);
  return result;
}

}  // namespace

TEST(WaitForExit, AStaleReadinessReportIsNotTakenForAnExit) {
  asio::io_context loop(1);
  // A socket Asio opened itself: its close() skips EPOLL_CTL_DEL.
  udp::socket stale(loop, udp::endpoint(asio::ip::address_v4::loopback(), 0));
  const udp::endpoint stale_address = stale.local_endpoint();
  udp::socket sender(loop, udp::endpoint(asio::ip::address_v4::loopback(), 0));
  // Its open file outlives the close, as while a vfork child holds jobd's descriptors.
  const int still_open = ::dup(stale.native_handle());
  stale.close();
  SleepingChild child;
  ASSERT_GT(child.pid(), 0);
  // The pidfd gets the per-descriptor state the socket left (Asio recycles the last freed).
  posix::WatchedFd pidfd(loop, child.release_pidfd());
  auto result = start_waiting(loop, pidfd);
  loop.run_for(20ms);
  // An event for the dead registration: epoll hands it to the pidfd's wait.
  const char datagram = 'x';
  sender.send_to(asio::buffer(&datagram, 1), stale_address);
  loop.restart();
  loop.run_for(200ms);
  EXPECT_FALSE(result->has_value()) << "a live child was reported as exited";
  // The real exit still comes through.
  ::kill(child.pid(), SIGKILL);
  loop.restart();
  for (int i = 0; i < 100 && !result->has_value(); ++i) loop.run_one_for(50ms);
  ASSERT_TRUE(result->has_value());
  EXPECT_EQ((*result)->result, posix::ExitWait::Result::exited);
  ::close(still_open);
}

TEST(WaitForExit, SeesTheExitLeavingTheChildToReapWithItsStatus) {
  asio::io_context loop(1);
  SleepingChild child;
  posix::WatchedFd pidfd(loop, child.release_pidfd());
  auto result = start_waiting(loop, pidfd);
  loop.run_for(20ms);
  EXPECT_FALSE(result->has_value());
  ::kill(child.pid(), SIGTERM);
  for (int i = 0; i < 100 && !result->has_value(); ++i) loop.run_one_for(50ms);
  ASSERT_TRUE(result->has_value());
  ASSERT_EQ((*result)->result, posix::ExitWait::Result::exited);
  const auto reaped = posix::reap_exited(child.pid(), pidfd.native_handle());
  ASSERT_TRUE(reaped.has_value());
  child.forget();
  EXPECT_FALSE(reaped->exit.exited());
  EXPECT_EQ(reaped->exit.status, SIGTERM);
}

TEST(WaitForExit, AChildReapedElsewhereIsLost) {
  asio::io_context loop(1);
  SleepingChild child;
  posix::WatchedFd pidfd(loop, child.release_pidfd());
  ::kill(child.pid(), SIGKILL);
  ::waitpid(child.pid(), nullptr, 0);  // against the rules: not through the pidfd
  child.forget();
  auto result = start_waiting(loop, pidfd);
  for (int i = 0; i < 100 && !result->has_value(); ++i) loop.run_one_for(50ms);
  ASSERT_TRUE(result->has_value());
  EXPECT_EQ((*result)->result, posix::ExitWait::Result::lost);
}

TEST(WaitForExit, ClosingThePidfdAbortsTheWait) {
  asio::io_context loop(1);
  SleepingChild child;
  posix::WatchedFd pidfd(loop, child.release_pidfd());
  auto result = start_waiting(loop, pidfd);
  loop.run_for(20ms);
  pidfd.close();
  pidfd.close();  // idempotent
  for (int i = 0; i < 100 && !result->has_value(); ++i) loop.run_one_for(50ms);
  ASSERT_TRUE(result->has_value());
  EXPECT_EQ((*result)->result, posix::ExitWait::Result::aborted);
}
