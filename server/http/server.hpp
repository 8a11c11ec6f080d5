// HttpServer: the listener and a coroutine per busy connection (Beast, HTTP/1.1 keep-alive,
// pipelined requests answered in order; idle connections are parked as small records). It
// enforces the connection-level limits (header and body size, timeouts, connection count) and
// hands each request to a Handler (handler.hpp). It must never know what the requests mean:
// routes, jobs and metrics live above it (api/, app/), and reach it only through the Handler
// and the request observer.
//
// server.cpp accepts and tracks connections; session.cpp serves one, session_spawn.cpp starts
// and pools sessions, idle.cpp keeps idle connections; response_writer.cpp writes answers;
// refusals.cpp decides which requests are refused. The Asio/Beast machinery stays in those
// files: this header is cheap to include.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "config/units.hpp"

namespace boost::asio {
class io_context;
}

namespace jobd::http {

class Handler;

struct ServerLimits {
  std::uint64_t max_body = 1 << 20;
  std::uint64_t max_header = 16 << 10;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::size_t max_connections = 10'000;
  std::chrono::milliseconds slow_handler{20};  // a handler holding the loop longer is logged
};

// One line of the access log / one sample of request metrics.
struct RequestRecord {
  std::string_view peer;
  std::string_view method;
  std::string_view target;
  std::string_view route;  // route template, e.g. /v1/jobs/{id}
  unsigned status = 0;
  std::size_t body_bytes = 0;
  std::chrono::nanoseconds duration{0};
};

class HttpServer {
 public:
  // The handler must outlive the server.
  HttpServer(boost::asio::io_context& loop, Handler& handler, ServerLimits limits);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Resolves the host (a name or an address; blocking: call it before the loop runs), binds the
  // first address that can be bound, listens, and returns the address and port it bound. Throws
  // std::system_error when the name does not resolve or no address can be bound.
  config::ListenAddress listen(const config::ListenAddress& address);
  // Starts accepting connections (on the loop).
  void start();
  // Serves one already-connected stream socket as if it had been accepted (takes ownership of
  // the descriptor; it counts as an open connection, the limit is not applied). The HTTP fuzzer
  // feeds the real session this way, through a socketpair.
  void serve(int fd);
  // Shutdown, step 1: close the listening socket (serving the connections already waiting in its
  // backlog), and from now on close each connection after its answer (Connection: close),
  // answering first whatever requests its client had already sent.
  void stop_accepting();
  // Shutdown, step 2 (the jobs are done): close idle keep-alive connections now (unless a
  // request already arrived on one: it is answered first) and end the event streams.
  void close_connections();
  std::size_t connections() const;
  // Called after each response; for metrics and the access log.
  void on_request(std::function<void(const RequestRecord&)> observer);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobd::http
