// PeerWatch (http/peer_watch.hpp): a session's await that lasts notices its client leave, one that
// ends within kWatchDelay never looks at the socket, and a pipelined byte is not taken for an end.
// Over a real connection on 127.0.0.1 inside the test, with the loop run by hand.
#include "http/peer_watch.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <optional>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using jobd::http::kWatchDelay;
using jobd::http::PeerWatch;
using jobd::http::WatchStarter;

namespace {

struct Connection {
  asio::io_context loop;
  tcp::socket server{loop};  // the session's side, which the watch looks at
  tcp::socket client{loop};
  WatchStarter starter{loop.get_executor()};
  std::shared_ptr<PeerWatch> watch = std::make_shared<PeerWatch>();
  std::optional<boost::system::error_code> await_ended;  // the session's await, cancelled or not
  asio::steady_timer await{loop};

  Connection() {
    tcp::acceptor acceptor(loop, {asio::ip::make_address("127.0.0.1"), 0});
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
    // Stands in for the session's long-poll: a wait the watch's cancellation ends.
    await.expires_after(30s);
    await.async_wait(asio::bind_cancellation_slot(
        watch->slot(), [this](boost::system::error_code error) { await_ended = error; }));
  }

  template <typename Done>
  void run_until(Done done, std::chrono::milliseconds limit = 2s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) loop.run_one_for(5ms);
  }
  void run_for(std::chrono::milliseconds span) {
    const auto until = std::chrono::steady_clock::now() + span;
    while (std::chrono::steady_clock::now() < until) loop.run_one_for(1ms);
  }
};

}  // namespace

TEST(PeerWatch, AClientThatLeavesDuringALastingAwaitCancelsIt) {
  Connection c;
  c.watch->arm(c.server, c.starter);
  c.run_for(kWatchDelay * 2);  // the watch is looking by now, and sees nothing yet
  EXPECT_FALSE(c.await_ended);
  EXPECT_FALSE(c.watch->gone());
  c.client.close();
  c.run_until([&] { return c.await_ended.has_value(); });
  ASSERT_TRUE(c.await_ended);
  EXPECT_EQ(*c.await_ended, asio::error::operation_aborted);
  EXPECT_TRUE(c.watch->disarm());
}

TEST(PeerWatch, AClientGoneBeforeTheArmIsNoticedOnceTheDelayHasPassed) {
  Connection c;
  c.client.close();
  const auto armed = std::chrono::steady_clock::now();
  c.watch->arm(c.server, c.starter);
  c.run_until([&] { return c.await_ended.has_value(); });
  ASSERT_TRUE(c.await_ended);
  // Not before the delay (less the starter's slack), and not long after it.
  const auto waited = std::chrono::steady_clock::now() - armed;
  EXPECT_GE(waited, kWatchDelay - 3ms);
  EXPECT_LT(waited, 1s);
  EXPECT_TRUE(c.watch->disarm());
}

TEST(PeerWatch, AnAwaitDisarmedWithinTheDelayNeverLooks) {
  Connection c;
  c.client.close();  // gone already: a watch that looked would say so
  c.watch->arm(c.server, c.starter);
  c.loop.poll();
  EXPECT_FALSE(c.watch->disarm());
  c.run_for(kWatchDelay * 3);
  EXPECT_FALSE(c.await_ended);
  EXPECT_FALSE(c.watch->gone());
}

TEST(PeerWatch, APipelinedRequestIsNotAnEndAndStopsTheWatch) {
  Connection c;
  asio::write(c.client, asio::buffer("GET / HTTP/1.1\r\n\r\n", 18));
  c.watch->arm(c.server, c.starter);
  c.run_for(kWatchDelay * 3);
  EXPECT_FALSE(c.await_ended);
  EXPECT_FALSE(c.watch->gone());
  // The watch stopped at the byte: a later close is the session's to find, not the watch's.
  c.client.close();
  c.run_for(kWatchDelay * 2);
  EXPECT_FALSE(c.await_ended);
  EXPECT_FALSE(c.watch->disarm());
  EXPECT_EQ(c.server.available(), 18U);  // nothing was read off the socket
}

TEST(PeerWatch, ARearmedWatchWaitsItsOwnDelayAndIgnoresTheEarlierArm) {
  Connection c;
  c.watch->arm(c.server, c.starter);
  c.run_for(kWatchDelay / 2);
  c.watch->disarm();
  c.client.close();
  const auto armed = std::chrono::steady_clock::now();
  c.watch->arm(c.server, c.starter);  // a second await on the same connection
  c.run_until([&] { return c.await_ended.has_value(); });
  ASSERT_TRUE(c.await_ended);
  EXPECT_GE(std::chrono::steady_clock::now() - armed, kWatchDelay - 3ms);
  EXPECT_TRUE(c.watch->gone());
}

TEST(PeerWatch, ADestroyedWatchLeavesTheStartersListAndTheOthersStillStart) {
  Connection c;
  auto other = std::make_shared<PeerWatch>();
  other->arm(c.server, c.starter);
  other.reset();  // a session freed while its watch waited to start
  c.client.close();
  c.watch->arm(c.server, c.starter);
  c.run_until([&] { return c.await_ended.has_value(); });
  ASSERT_TRUE(c.await_ended);
  EXPECT_TRUE(c.watch->gone());
}
