// Writing answers to a connection: a plain response, a refusal (then a linger, so the client
// reads it), and a body produced over time (Server-Sent Events). Bytes only: what to answer is
// decided by the handler and the refusal rules; the session decides when.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <tuple>

#include "http/message.hpp"

namespace jobd::http {

// The Date header value, formatted once per second.
std::string_view http_date();

// Renders the status line and headers of `response` into `out`, replacing what it held (its
// capacity is kept, so a connection's buffer stops allocating after its first answer): the
// bytes Beast's serializer writes for the same message, without building a Beast message
// (whose fields allocate a node each; tests/unit/response_head_test.cpp compares the two).
// Content-Length is the body's size, for HEAD too (RFC 9110 §9.3.2).
void render_head(std::string& out, const Response& response, bool keep_alive, unsigned version);

// What send_now() got out: the bytes the socket took, or a failure (the client is gone).
struct SentNow {
  std::size_t bytes = 0;
  bool failed = false;
};

// Sends as much of a rendered head and body as the socket takes at once, in one gather write,
// without waiting (EAGAIN is 0 bytes, not a failure). Most answers fit the send buffer, and then
// need no asynchronous write: no timer armed and cancelled, no completion a loop turn later.
SentNow send_now(boost::asio::ip::tcp::socket& socket, std::string_view head, std::string_view body);

// Writes a rendered head and a body in one gather write, bounded by `timeout`. No coroutine
// frame of its own: the session awaits the write itself. Both views must outlive the await.
boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write_rendered(
    boost::beast::tcp_stream& stream, std::string_view head, std::string_view body,
    std::chrono::milliseconds timeout);

// Writes one response (its body left out for HEAD); false when the write failed. `timeout`
// bounds the write.
boost::asio::awaitable<bool> write_response(boost::beast::tcp_stream& stream, Response& response, bool head,
                                            bool keep_alive, unsigned version,
                                            std::chrono::milliseconds timeout);

// Writes `100 Continue` (to a request that expects it before sending its body); false when the
// write failed.
boost::asio::awaitable<bool> write_continue(boost::beast::tcp_stream& stream, unsigned version,
                                            std::chrono::milliseconds timeout);

// Answers with a refusal (a problem response), shuts the sending side down, then reads and discards what the
// client still sends for a moment: closing a socket with unread input resets the connection,
// and the client may lose the answer.
boost::asio::awaitable<void> write_refusal(boost::beast::tcp_stream& stream, Response& refusal,
                                           unsigned version, std::chrono::milliseconds timeout);

// Shuts the sending side down, then reads and discards what the client still sends, for a
// moment, until it closes: a staged close (RFC 9112 §9.6), so that the client reads the last
// answer rather than a reset.
boost::asio::awaitable<void> close_gracefully(boost::beast::tcp_stream& stream);

// Writes the head of a streamed `response` (Connection: close; the body is delimited by the
// close); false when the write failed.
boost::asio::awaitable<bool> write_stream_head(boost::beast::tcp_stream& stream, const Response& response,
                                               unsigned version, std::chrono::milliseconds timeout);

// Writes the head of `response`, then (unless `head_only`: the answer to HEAD) each piece of
// `response.stream` until it ends or a write fails. The body is delimited by closing the
// connection. A reader that stops reading is cut after `timeout`; a cancellation of the
// session's coroutine (its client went away) ends the stream.
boost::asio::awaitable<void> write_streamed(boost::beast::tcp_stream& stream, Response& response,
                                            unsigned version, std::chrono::milliseconds timeout,
                                            bool head_only);

// Writes the head of `response`, then hands the socket to its stream (BodyStream::serves_socket)
// and awaits the end of the body there. The socket is back in `stream` afterwards, unless the
// client went away (then true, and `stream` holds no socket).
boost::asio::awaitable<bool> write_handed_over(boost::beast::tcp_stream& stream, Response& response,
                                               unsigned version, std::chrono::milliseconds timeout);

}  // namespace jobd::http
