// send_now (http/response_writer.hpp), the session's one non-blocking try at writing an answer:
// a head alone goes out with send(), a head and a body with sendmsg() (the session joins a small
// body to the head first). Both must deliver the bytes in order, report what a full send buffer
// took (EAGAIN is 0 bytes, not a failure) and report a client that is gone. Over a real
// connection on 127.0.0.1.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>

#include "http/response_writer.hpp"
#include "loopback_pair.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using jobd::http::send_now;
using jobd::http::SentNow;

namespace {

struct Pair : jobd::testing::LoopbackPair {
  Pair() { server.non_blocking(true); }  // as the session's socket is

  // What the client receives, up to `bytes`, or less if nothing more comes for 5 s (a
  // short answer fails the comparison rather than hanging the test).
  std::string read(std::size_t bytes) {
    std::string got(bytes, '\0');
    std::size_t have = 0;
    pollfd readable{client.native_handle(), POLLIN, 0};
    while (have < bytes && ::poll(&readable, 1, 5000) == 1) {
      const ssize_t n = ::recv(client.native_handle(), got.data() + have, bytes - have, 0);
      if (n <= 0) break;
      have += static_cast<std::size_t>(n);
    }
    got.resize(have);
    return got;
  }
};

// Sends `head` then `body` as the session does, each call with what the previous ones did not
// take, until all is sent, the send buffer is full (0 bytes) or a call fails. Returns the bytes
// taken.
std::size_t send_all(tcp::socket& socket, std::string_view head, std::string_view body, bool& failed) {
  std::size_t taken = 0;
  while (!head.empty() || !body.empty()) {
    const SentNow now = send_now(socket, head, body);
    failed = failed || now.failed;
    if (now.failed || now.bytes == 0) break;
    taken += now.bytes;
    const std::size_t of_head = std::min(now.bytes, head.size());
    head.remove_prefix(of_head);
    body.remove_prefix(now.bytes - of_head);
  }
  return taken;
}

}  // namespace

TEST(SendNow, AHeadAloneAndAHeadWithItsBodyArriveWhole) {
  Pair pair;
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";  // a joined body
  const SentNow alone = send_now(pair.server, head, {});
  EXPECT_FALSE(alone.failed);
  EXPECT_EQ(alone.bytes, head.size());
  EXPECT_EQ(pair.read(head.size()), head);

  const std::string split_head = "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n";
  const std::string body(2000, 'b');
  const SentNow both = send_now(pair.server, split_head, body);
  EXPECT_FALSE(both.failed);
  EXPECT_EQ(both.bytes, split_head.size() + body.size());
  EXPECT_EQ(pair.read(split_head.size() + body.size()), split_head + body);
}

// A client that reads nothing: each form stops at a full send buffer, part of the answer taken,
// with 0 bytes and no failure, and what it reported taken arrives, in order, once the client
// reads.
TEST(SendNow, AFullSendBufferTakesPartOfTheAnswerAndIsNoFailure) {
  for (const bool with_body : {false, true}) {
    Pair pair;
    pair.server.set_option(asio::socket_base::send_buffer_size(4096));
    std::string answer(std::size_t{8} * 1024 * 1024, '\0');
    for (std::size_t i = 0; i < answer.size(); ++i) answer[i] = static_cast<char>('a' + i % 23);
    const std::string_view all = answer;
    const std::string_view head = with_body ? all.substr(0, 1000) : all;
    const std::string_view body = with_body ? all.substr(1000) : std::string_view{};
    bool failed = false;
    const std::size_t taken = send_all(pair.server, head, body, failed);
    EXPECT_FALSE(failed) << (with_body ? "sendmsg" : "send");
    EXPECT_GT(taken, 0u);
    EXPECT_LT(taken, answer.size()) << "the buffers took all of it";
    EXPECT_EQ(pair.read(taken), answer.substr(0, taken));
  }
}

TEST(SendNow, AClientThatResetTheConnectionIsAFailure) {
  for (const bool with_body : {false, true}) {
    Pair pair;
    pair.client.set_option(asio::socket_base::linger(true, 0));  // close() sends a reset
    pair.client.close();
    bool failed = false;
    send_all(pair.server, "HTTP/1.1 200 OK\r\n\r\n", with_body ? "body" : "", failed);
    EXPECT_TRUE(failed) << (with_body ? "sendmsg" : "send");
  }
}
