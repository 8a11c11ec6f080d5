#include "http/response_writer.hpp"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <vector>

#include "http/body_stream.hpp"

namespace jobd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {
// After a refusal: how much of what the client still sends is read and dropped, and for how long.
constexpr std::size_t kLingerBytes = 1 << 20;
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr std::size_t kLingerChunk = std::size_t{16} * 1024;
}  // namespace

std::string_view http_date() {
  static thread_local std::time_t cached_second = 0;
  static thread_local char text[40];
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    cached_second = now;
    std::tm utc{};
    gmtime_r(&now, &utc);
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  }
  return text;
}

void render_head(std::string& out, const Response& response, bool keep_alive, unsigned version) {
  // What Beast writes for a response whose fields were set in this order: Server, Date,
  // Content-Type, the handler's headers, Connection (from keep_alive), Content-Length. Beast's
  // keep_alive(): HTTP/1.1 says close when not kept alive, HTTP/1.0 says keep-alive when kept.
  char status[4] = {static_cast<char>('0' + response.status / 100 % 10),
                    static_cast<char>('0' + response.status / 10 % 10),
                    static_cast<char>('0' + response.status % 10), ' '};
  out.assign("HTTP/");
  out.push_back(static_cast<char>('0' + version / 10));
  out.push_back('.');
  out.push_back(static_cast<char>('0' + version % 10));
  out.push_back(' ');
  out.append(status, sizeof status);
  out.append(bhttp::obsolete_reason(static_cast<bhttp::status>(response.status)));
  out.append("\r\nServer: jobd\r\nDate: ");
  out.append(http_date());
  out.append("\r\nContent-Type: ");
  out.append(response.content_type);
  out.append("\r\n");
  for (const auto& [name, value] : response.headers) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
  if (version >= 11 && !keep_alive) out.append("Connection: close\r\n");
  if (version < 11 && keep_alive) out.append("Connection: keep-alive\r\n");
  char length[24];
  const auto [end, error] = std::to_chars(length, length + sizeof length, response.body_text().size());
  out.append("Content-Length: ");
  out.append(length, end);
  out.append("\r\n\r\n");
}

SentNow send_now(tcp::socket& socket, std::string_view head, std::string_view body) {
  std::array<iovec, 2> parts{iovec{const_cast<char*>(head.data()), head.size()},
                             iovec{const_cast<char*>(body.data()), body.size()}};
  msghdr message{};
  message.msg_iov = parts.data();
  message.msg_iovlen = 2;
  // MSG_NOSIGNAL: a client that left is EPIPE here, as in Asio's own sends.
  constexpr int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
  for (;;) {
    // One buffer goes with send(), which copies no msghdr and iovec array into the kernel.
    const ssize_t sent = body.empty() ? ::send(socket.native_handle(), head.data(), head.size(), flags)
                                      : ::sendmsg(socket.native_handle(), &message, flags);
    if (sent >= 0) return {static_cast<std::size_t>(sent), false};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {0, false};
    return {0, true};
  }
}

asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write_rendered(
    beast::tcp_stream& stream, std::string_view head, std::string_view body,
    std::chrono::milliseconds timeout) {
  stream.expires_after(timeout);
  const std::array<asio::const_buffer, 2> pieces{asio::buffer(head), asio::buffer(body)};
  return asio::async_write(stream, pieces, use_tuple);
}

asio::awaitable<bool> write_response(beast::tcp_stream& stream, Response& response, bool head,
                                     bool keep_alive, unsigned version, std::chrono::milliseconds timeout) {
  std::string rendered;
  render_head(rendered, response, keep_alive, version);
  const std::string_view body = head ? std::string_view{} : response.body_text();
  auto [error, bytes] = co_await write_rendered(stream, rendered, body, timeout);
  co_return !error;
}

asio::awaitable<bool> write_continue(beast::tcp_stream& stream, unsigned version,
                                     std::chrono::milliseconds timeout) {
  bhttp::response<bhttp::empty_body> proceed{bhttp::status::continue_, version};
  stream.expires_after(timeout);
  auto [error, bytes] = co_await bhttp::async_write(stream, proceed, use_tuple);
  co_return !error;
}

asio::awaitable<void> write_refusal(beast::tcp_stream& stream, Response& refusal, unsigned version,
                                    std::chrono::milliseconds timeout) {
  const bool written = co_await write_response(stream, refusal, false, false, version, timeout);
  if (written) co_await close_gracefully(stream);
}

asio::awaitable<void> close_gracefully(beast::tcp_stream& stream) {
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::socket_base::shutdown_send, ignored);
  std::vector<char> sink(kLingerChunk);
  std::size_t discarded = 0;
  stream.expires_after(kLingerTime);
  while (discarded < kLingerBytes) {
    auto [error, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
    if (error) break;
    discarded += n;
  }
}

asio::awaitable<bool> write_stream_head(beast::tcp_stream& stream, const Response& response, unsigned version,
                                        std::chrono::milliseconds timeout) {
  // The head is written by hand: the body is delimited by closing the connection, which every
  // SSE client (and curl) expects, and which needs no chunked framing per event.
  std::string head = "HTTP/1." + std::to_string(version % 10) + " " + std::to_string(response.status) +
                     " OK\r\nServer: jobd\r\nDate: " + std::string(http_date()) +
                     "\r\nContent-Type: " + std::string(response.content_type) + "\r\nConnection: close\r\n";
  for (const auto& [name, value] : response.headers)
    head.append(name).append(": ").append(value).append("\r\n");
  head += "\r\n";
  stream.expires_after(timeout);
  auto [head_error, head_bytes] = co_await asio::async_write(stream, asio::buffer(head), use_tuple);
  co_return !head_error;
}

asio::awaitable<void> write_streamed(beast::tcp_stream& stream, Response& response, unsigned version,
                                     std::chrono::milliseconds timeout, bool head_only) {
  const bool sent = co_await write_stream_head(stream, response, version, timeout);
  // HEAD: the headers GET would send, and no body (RFC 9110 §9.3.2); a stream's never ends.
  if (!sent || head_only) co_return;
  const std::shared_ptr<BodyStream> body = response.stream;
  for (;;) {
    // The session's PeerWatch found the client gone (a cancellation): nobody reads this. Asked
    // after every resumption, since the cancellation may land between two operations, where it
    // cancels none of them.
    const asio::cancellation_state before_wait = co_await asio::this_coro::cancellation_state;
    if (before_wait.cancelled() != asio::cancellation_type::none) break;
    std::optional<std::string> piece = co_await body->next();
    if (!piece) break;
    const asio::cancellation_state after_wait = co_await asio::this_coro::cancellation_state;
    if (after_wait.cancelled() != asio::cancellation_type::none) break;
    // The events a slow reader misses meanwhile are counted by its queue, not held by the job.
    stream.expires_after(timeout);
    auto [error, bytes] = co_await asio::async_write(stream, asio::buffer(*piece), use_tuple);
    if (error) break;
  }
}

asio::awaitable<bool> write_handed_over(beast::tcp_stream& stream, Response& response, unsigned version,
                                        std::chrono::milliseconds timeout) {
  const bool sent = co_await write_stream_head(stream, response, version, timeout);
  if (!sent) co_return false;
  tcp::socket& socket = stream.socket();
  boost::system::error_code error;
  // The protocol tag only matters for endpoints; a socketpair (HttpServer::serve) has none.
  auto protocol = tcp::v4();
  if (const auto local = socket.local_endpoint(error); !error) protocol = local.protocol();
  // release() deregisters the descriptor from the loop's reactor: the stream's thread registers
  // it with its own.
  const int fd = socket.release(error);
  if (error) co_return false;
  const std::shared_ptr<BodyStream> body = response.stream;
  const int back = co_await body->serve(fd);
  if (back < 0) co_return true;
  socket.assign(protocol, back, error);
  if (error) {
    ::close(back);
    co_return true;
  }
  co_return false;
}

}  // namespace jobd::http
