// A connected pair of TCP sockets on 127.0.0.1 sharing one io_context, for tests of what the
// HTTP session does on a real socket: `server` is the session's side, `client` the peer's.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace jobd::testing {

struct LoopbackPair {
  boost::asio::io_context loop;
  boost::asio::ip::tcp::socket server{loop};
  boost::asio::ip::tcp::socket client{loop};

  LoopbackPair() {
    boost::asio::ip::tcp::acceptor acceptor(loop, {boost::asio::ip::make_address("127.0.0.1"), 0});
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }

  // Runs the loop through epoll_wait calls for `span`: the reactor takes what is ready, whether
  // or not an operation waits for it.
  void turn_for(std::chrono::milliseconds span) {
    loop.restart();  // (a loop that ran out of work stays stopped until restarted)
    boost::asio::steady_timer timer(loop, span);
    bool fired = false;
    timer.async_wait([&fired](boost::system::error_code) { fired = true; });
    const auto until = std::chrono::steady_clock::now() + span + std::chrono::seconds(2);
    while (!fired && std::chrono::steady_clock::now() < until)
      loop.run_one_for(std::chrono::milliseconds(100));
  }
};

}  // namespace jobd::testing
