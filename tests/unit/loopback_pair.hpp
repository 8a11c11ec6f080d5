// A connected pair of TCP sockets on 127.0.0.1 sharing one io_context, for tests of what the
// HTTP session does on a real socket: `server` is the session's side, `client` the peer's.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

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
};

}  // namespace jobd::testing
