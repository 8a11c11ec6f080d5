// HttpConnection: one keep-alive HTTP/1.1 connection to jobd, driven by coroutines. It owns the
// socket, the read buffer and the (cached) resolved address; it reconnects lazily, after the
// server closed the connection or a request failed. Shared by Client (one connection, run to
// completion per call) and the load generator (many connections on one io_context).
// Private to the client library: it includes Beast, which public headers must not.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "jobd/client/client.hpp"

namespace jobd::client::detail {

struct HttpRequest {
  std::string_view method;  // "GET", "POST", "DELETE", ...
  std::string target;       // path and query, base path already prepended
  std::string body;
  std::string content_type;  // set when there is a body
  std::string accept = "application/json";
  std::string last_event_id;  // for an event stream resumed after a break
};

class HttpConnection {
 public:
  HttpConnection(boost::asio::any_io_executor executor, Endpoint endpoint, const ClientOptions& options);

  // Sends the request and reads the whole answer. `timeout` bounds each of the send and the
  // read. A request of an idempotent method that meets a connection the server had closed
  // (nothing came back) is sent once more on a fresh connection.
  boost::asio::awaitable<Reply> exchange(const HttpRequest& request, std::chrono::milliseconds timeout);

  // Sends the request and hands the body to `on_body` chunk by chunk as it arrives (an event
  // stream). `header_timeout` bounds the wait for the status line and headers; `idle_timeout`
  // each later read (0: none). Stops when the body ends, `on_body` returns false, or a read
  // fails; the connection is closed afterwards either way (a stream is not reused).
  boost::asio::awaitable<Reply> stream(const HttpRequest& request, std::chrono::milliseconds header_timeout,
                                       std::chrono::milliseconds idle_timeout,
                                       const std::function<bool(std::string_view)>& on_body);

  void close();
  bool is_open() const { return open_; }
  std::uint64_t connects() const { return connects_; }

 private:
  boost::asio::awaitable<bool> ensure_open(Reply& reply);
  boost::asio::awaitable<Reply> exchange_once(const HttpRequest& request, std::chrono::milliseconds timeout,
                                              bool& retry_safe);
  std::string authority() const;

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  Endpoint endpoint_;
  std::string authorization_;
  std::string user_agent_;
  std::chrono::milliseconds connect_timeout_;
  std::vector<boost::asio::ip::tcp::endpoint> addresses_;  // resolved once
  bool open_ = false;
  std::uint64_t connects_ = 0;
  std::uint64_t exchanges_on_this_connection_ = 0;
};

}  // namespace jobd::client::detail
