// The session's idle read (http/drained_read.hpp): after a short read the reactor queues the next
// read without trying it. That is safe only if no bytes are ever left unread without a wake-up
// to come. These tests check the cases where they could be: bytes whose edge the reactor took
// while no read waited, bytes that come while a read is queued, and a buffer filled to the last
// byte. They also check that cancellation and the end of stream complete the read, and the one
// case the session leaves to its linger and parked wait: a FIN that came with the last bytes.
// Over a real connection on 127.0.0.1, with the loop run by hand.
#include "http/drained_read.hpp"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <optional>
#include <string>

#include "loopback_pair.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct Read {
  boost::system::error_code error;
  std::size_t bytes = 0;
};

struct Pair : jobd::testing::LoopbackPair {
  asio::detail::epoll_reactor& reactor = jobd::http::reactor_of(loop.get_executor());
  std::array<char, 8> buffer{};
  std::optional<Read> done;

  template <typename Token>
  void start(Token&& token) {
    done.reset();
    jobd::http::async_read_some_drained(server, asio::buffer(buffer), reactor, std::forward<Token>(token));
  }
  void start() {
    start([this](boost::system::error_code error, std::size_t bytes) { done = Read{error, bytes}; });
  }

  // Waits up to `limit` for the started read; nullopt if it is still queued then.
  std::optional<Read> wait(std::chrono::milliseconds limit) {
    loop.restart();
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < until) loop.run_one_for(5ms);
    return done;
  }

  // A read that waits up to `limit`: the bytes read, or nullopt if it was still queued (then it
  // is cancelled, as its handler refers to this object).
  std::optional<std::string> read(std::chrono::milliseconds limit) {
    start();
    const auto got = wait(limit);
    if (!got) {
      server.cancel();
      const auto ended = wait(2s);
      EXPECT_TRUE(ended.has_value()) << "a cancelled read did not end";
      return std::nullopt;
    }
    EXPECT_FALSE(got->error) << got->error.message();
    return std::string(buffer.data(), got->bytes);
  }
};

}  // namespace

TEST(DrainedRead, BytesWhoseEdgeTheReactorTookWhileNoReadWaitedAreReadAtOnce) {
  Pair p;
  asio::write(p.client, asio::buffer("GET", 3));
  EXPECT_EQ(p.read(2s), "GET");  // short: the socket is marked drained
  asio::write(p.client, asio::buffer(" /", 2));
  p.turn_for(30ms);  // epoll_wait reports the socket while nothing reads it
  EXPECT_EQ(p.read(2s), " /") << "bytes that came between two reads were never read";
}

TEST(DrainedRead, AQueuedReadWaitsWithNothingToReadAndWakesForBytesThatCome) {
  Pair p;
  asio::write(p.client, asio::buffer("a", 1));
  EXPECT_EQ(p.read(2s), "a");
  p.start();
  EXPECT_FALSE(p.wait(100ms).has_value()) << "a read of a drained socket completed with nothing sent";
  asio::write(p.client, asio::buffer("bc", 2));
  const auto got = p.wait(2s);
  ASSERT_TRUE(got.has_value()) << "a queued read never woke";
  EXPECT_FALSE(got->error);
  EXPECT_EQ(std::string(p.buffer.data(), got->bytes), "bc");
}

TEST(DrainedRead, AFullBufferLeavesTheRestForTheNextReadWithoutAWait) {
  Pair p;
  const std::string sent = "0123456789abcdefXYZ";  // 8 + 8 + 3 bytes for an 8-byte buffer
  asio::write(p.client, asio::buffer(sent));
  p.turn_for(20ms);
  std::string got;
  for (int i = 0; i < 3; ++i) {
    const auto part = p.read(2s);
    ASSERT_TRUE(part.has_value()) << "read " << i << " waited with bytes still in the socket";
    got += *part;
  }
  EXPECT_EQ(got, sent);
}

TEST(DrainedRead, EndsWithTheEndOfStreamACancelAndACancellationSignal) {
  Pair p;
  asio::write(p.client, asio::buffer("x", 1));
  EXPECT_EQ(p.read(2s), "x");

  p.start();  // queued: socket.cancel() ends it (the linger sweep's way)
  EXPECT_FALSE(p.wait(20ms).has_value());
  p.server.cancel();
  auto got = p.wait(2s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error, asio::error::operation_aborted);

  asio::cancellation_signal signal;  // a coroutine's cancellation slot (the peer watch's way)
  p.start(
      asio::bind_cancellation_slot(signal.slot(), [&p](boost::system::error_code error, std::size_t bytes) {
        p.done = Read{error, bytes};
      }));
  EXPECT_FALSE(p.wait(20ms).has_value());
  signal.emit(asio::cancellation_type::terminal);
  got = p.wait(2s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error, asio::error::operation_aborted);

  p.start();  // the peer closes while a read is queued
  EXPECT_FALSE(p.wait(20ms).has_value());
  p.client.close();
  got = p.wait(2s);
  ASSERT_TRUE(got.has_value()) << "a queued read missed the end of stream";
  EXPECT_EQ(got->error, asio::error::eof);
}

// The FIN came in the same event as the last bytes, and the read that took them was short: the
// next read waits, as no edge is to come. The session's linger ends that read and parks the
// connection, whose readiness wait re-arms the descriptor (EPOLL_CTL_MOD polls it) and finds the
// end of stream: this checks both halves.
TEST(DrainedRead, AFinThatCameWithTheLastBytesIsFoundByTheParkedWait) {
  Pair p;
  asio::write(p.client, asio::buffer("last", 4));
  p.client.shutdown(asio::ip::tcp::socket::shutdown_send);
  p.turn_for(30ms);  // one event for both, taken while nothing reads
  EXPECT_EQ(p.read(2s), "last");
  p.start();
  const auto queued = p.wait(100ms);
  if (queued) {
    // A kernel that woke the descriptor again for the FIN: the read sees it at once.
    EXPECT_EQ(queued->error, asio::error::eof);
    return;
  }
  p.server.cancel();  // the linger sweep's cancel
  auto got = p.wait(2s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error, asio::error::operation_aborted);
  std::optional<boost::system::error_code> woken;  // the parked connection's wait (http/idle.cpp)
  p.server.async_wait(asio::ip::tcp::socket::wait_read,
                      [&woken](boost::system::error_code error) { woken = error; });
  p.loop.restart();
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (!woken && std::chrono::steady_clock::now() < until) p.loop.run_one_for(5ms);
  ASSERT_TRUE(woken.has_value()) << "the parked wait missed the end of stream";
  EXPECT_FALSE(*woken);
  char byte = 0;
  boost::system::error_code error;
  EXPECT_EQ(p.server.read_some(asio::buffer(&byte, 1), error), 0u);
  EXPECT_EQ(error, asio::error::eof);
}
