// What a parked connection relies on (http/idle.cpp), and the session's idle read when a FIN
// came with the last bytes (http/drained_read.hpp): a readiness wait on a socket wakes for bytes
// that arrived before the wait began, even when the reactor's epoll_wait already reported their
// edge while nothing waited (Asio re-arms the descriptor with EPOLL_CTL_MOD for a wait). Were
// that lost, a client whose request came in such a gap would wait for the idle timeout. Over a
// real connection on 127.0.0.1, the loop run by hand.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <optional>

#include "loopback_pair.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

struct Pair : jobd::testing::LoopbackPair {
  std::optional<boost::system::error_code> wait_read(std::chrono::milliseconds limit) {
    loop.restart();
    std::optional<boost::system::error_code> woken;
    server.async_wait(tcp::socket::wait_read, [&woken](boost::system::error_code error) { woken = error; });
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!woken && std::chrono::steady_clock::now() < until) loop.run_one_for(5ms);
    if (!woken) {
      server.cancel();  // ends the wait, whose handler refers to `woken`
      const auto cancelled_by = std::chrono::steady_clock::now() + 2s;
      while (!woken && std::chrono::steady_clock::now() < cancelled_by) loop.run_one_for(5ms);
      EXPECT_TRUE(woken.has_value()) << "a cancelled wait did not end";
      return std::nullopt;
    }
    return woken;
  }
};

}  // namespace

TEST(ReadinessWait, WakesForBytesWhoseEdgeTheReactorTookBeforeTheWaitBegan) {
  Pair p;
  asio::write(p.client, asio::buffer("GET /", 5));
  p.turn_for(30ms);  // epoll_wait runs (for the timer) and reports the socket, which nothing reads
  const auto woken = p.wait_read(2s);
  ASSERT_TRUE(woken.has_value()) << "a wait begun after the edge never woke";
  EXPECT_FALSE(*woken);
  char bytes[8];
  EXPECT_EQ(p.server.read_some(asio::buffer(bytes)), 5U);
}

TEST(ReadinessWait, DoesNotWakeWithNothingToRead) {
  Pair p;
  p.turn_for(10ms);
  EXPECT_FALSE(p.wait_read(100ms).has_value());
  asio::write(p.client, asio::buffer("x", 1));  // and wakes for bytes that come while it waits
  const auto woken = p.wait_read(2s);
  ASSERT_TRUE(woken.has_value());
  EXPECT_FALSE(*woken);
}
