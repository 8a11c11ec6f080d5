#include "http/server.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <ctime>
#include <unordered_set>

#include "api/api.hpp"
#include "http/body_stream.hpp"
#include "http/router.hpp"
#include "metrics/loop_lag.hpp"

namespace jobd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// After refusing a request, read and discard what the client still sends for a moment: closing
// a socket with unread input resets the connection, and the client may lose the answer.
constexpr std::size_t kLingerBytes = 1 << 20;
constexpr auto kLingerTime = std::chrono::seconds(1);
// Pause before accepting again after the process ran out of file descriptors.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
// Bytes asked from the socket when waiting for a new request.
constexpr std::size_t kReadChunk = 16 * 1024;
// The first read of a request asks for less: an idle keep-alive connection then holds 1 KiB,
// not 16, and most requests fit (Beast grows the buffer for the rest).
constexpr std::size_t kFirstReadChunk = 1024;

constexpr std::string_view kTooManyConnections =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/problem+json\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "Content-Length: 108\r\n\r\n"
    R"({"type":"/problems/too-many-connections","title":"Too many connections","status":503,"detail":"try later"}  )";

// Feeds the parser what the buffer already holds, without I/O. Stops at the end of the header
// (header_only) or of the message; "need more" is not an error: the caller reads on.
boost::system::error_code parse_buffered(bhttp::request_parser<bhttp::string_body>& parser,
                                         beast::flat_buffer& buffer, bool header_only) {
  boost::system::error_code error;
  while (buffer.size() > 0 && !(header_only ? parser.is_header_done() : parser.is_done())) {
    const auto used = parser.put(buffer.data(), error);
    buffer.consume(used);
    if (error == bhttp::error::need_more) return {};
    if (error || used == 0) break;
  }
  return error;
}

Method to_method(bhttp::verb verb) {
  switch (verb) {
    case bhttp::verb::get: return Method::get;
    case bhttp::verb::head: return Method::head;
    case bhttp::verb::post: return Method::post;
    case bhttp::verb::put: return Method::put;
    case bhttp::verb::patch: return Method::patch;
    case bhttp::verb::delete_: return Method::delete_;
    case bhttp::verb::options: return Method::options;
    default: return Method::other;
  }
}

// The Date header, formatted once per second.
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

}  // namespace

struct HttpServer::Impl {
  // A live connection, so that shutdown can close the idle ones.
  struct Connection {
    beast::tcp_stream* stream = nullptr;
    bool idle = true;
    BodyStream* body_stream = nullptr;  // set while an event stream is being served
  };

  asio::io_context& loop;
  api::Api& api;
  ServerLimits limits;
  tcp::acceptor acceptor;
  std::unordered_set<Connection*> connections;
  bool closing = false;
  std::function<void(const RequestRecord&)> observer;

  Impl(asio::io_context& io, api::Api& handlers, ServerLimits server_limits)
      : loop(io), api(handlers), limits(server_limits), acceptor(io) {}

  asio::awaitable<void> accept_loop();
  void spawn_session(tcp::socket socket);
  asio::awaitable<void> session(tcp::socket socket);
  asio::awaitable<bool> write(beast::tcp_stream& stream, Response& response, bool head, bool keep_alive,
                              unsigned version);
  asio::awaitable<void> refuse(beast::tcp_stream& stream, const proto::Problem& problem, unsigned version);
  asio::awaitable<void> stream_body(beast::tcp_stream& stream, Connection& self, Response& response,
                                    unsigned version);
};

HttpServer::HttpServer(asio::io_context& loop, api::Api& api, ServerLimits limits)
    : impl_(std::make_unique<Impl>(loop, api, limits)) {}

HttpServer::~HttpServer() = default;

std::uint16_t HttpServer::listen(const config::ListenAddress& address) {
  const tcp::endpoint endpoint(asio::ip::make_address(address.host), address.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor.local_endpoint().port();
}

void HttpServer::start() {
  asio::co_spawn(impl_->loop, impl_->accept_loop(), [](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      spdlog::critical("accept loop ended: {}", e.what());
    }
  });
}

void HttpServer::stop_accepting() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

void HttpServer::close_connections() {
  impl_->closing = true;
  for (auto* connection : impl_->connections) {
    if (connection->idle) connection->stream->cancel();
    if (connection->body_stream) connection->body_stream->close();
  }
}

void HttpServer::serve(int fd) {
  // Asio only reads, writes and shuts the descriptor down, which works for any stream socket
  // (a socketpair included); the protocol tag matters only for endpoints, and a peer address
  // that is not TCP shows as "-" in the access log.
  tcp::socket socket(impl_->loop);
  socket.assign(tcp::v4(), fd);
  impl_->spawn_session(std::move(socket));
}

std::size_t HttpServer::connections() const { return impl_->connections.size(); }

void HttpServer::on_request(std::function<void(const RequestRecord&)> observer) {
  impl_->observer = std::move(observer);
}

asio::awaitable<void> HttpServer::Impl::accept_loop() {
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(use_tuple);
    if (error == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (error) {
      // EMFILE and friends: the connection stays in the backlog; try again shortly instead of
      // spinning on the same error.
      spdlog::warn("accept failed: {}", error.message());
      asio::steady_timer pause(loop, kAcceptBackoff);
      co_await pause.async_wait(use_tuple);
      continue;
    }
    if (connections.size() >= limits.max_connections) {
      // Refuse with a canned answer, without a coroutine: under a flood this must stay cheap.
      boost::system::error_code ignored;
      socket.non_blocking(true, ignored);
      socket.write_some(asio::buffer(kTooManyConnections), ignored);
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      continue;
    }
    boost::system::error_code no_delay_error;  // a peer that already reset: its session finds out
    socket.set_option(tcp::no_delay(true), no_delay_error);
    spawn_session(std::move(socket));
  }
}

void HttpServer::Impl::spawn_session(tcp::socket socket) {
  asio::co_spawn(loop, session(std::move(socket)), [](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      spdlog::error("connection ended by an exception: {}", e.what());
    }
  });
}

asio::awaitable<bool> HttpServer::Impl::write(beast::tcp_stream& stream, Response& response, bool head,
                                              bool keep_alive, unsigned version) {
  bhttp::response<bhttp::string_body> message{static_cast<bhttp::status>(response.status), version};
  message.set(bhttp::field::server, "jobd");
  message.set(bhttp::field::date, http_date());
  message.set(bhttp::field::content_type, response.content_type);
  for (auto& [name, value] : response.headers) message.set(name, value);
  message.keep_alive(keep_alive);
  message.content_length(response.body.size());
  if (!head) message.body() = std::move(response.body);
  stream.expires_after(limits.idle_timeout);
  auto [error, bytes] = co_await bhttp::async_write(stream, message, use_tuple);
  co_return !error;
}

asio::awaitable<void> HttpServer::Impl::refuse(beast::tcp_stream& stream, const proto::Problem& problem,
                                               unsigned version) {
  Response response = Response::problem(problem);
  if (observer) observer({"-", "-", "-", "refused", response.status, response.body.size(), {}});
  if (!co_await write(stream, response, false, false, version)) co_return;
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  std::vector<char> sink(kReadChunk);
  std::size_t discarded = 0;
  stream.expires_after(kLingerTime);
  while (discarded < kLingerBytes) {
    auto [error, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
    if (error) break;
    discarded += n;
  }
}

asio::awaitable<void> HttpServer::Impl::stream_body(beast::tcp_stream& stream, Connection& self,
                                                    Response& response, unsigned version) {
  // The head is written by hand: the body is delimited by closing the connection, which every
  // SSE client (and curl) expects, and which needs no chunked framing per event.
  std::string head = "HTTP/1." + std::to_string(version % 10) + " " + std::to_string(response.status) +
                     " OK\r\nServer: jobd\r\nDate: " + std::string(http_date()) +
                     "\r\nContent-Type: " + response.content_type + "\r\nConnection: close\r\n";
  for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
  head += "\r\n";
  stream.expires_after(limits.idle_timeout);
  auto [head_error, head_bytes] = co_await asio::async_write(stream, asio::buffer(head), use_tuple);
  if (head_error) co_return;
  const std::shared_ptr<BodyStream> body = response.stream;
  self.body_stream = body.get();
  if (closing) body->close();
  for (;;) {
    std::optional<std::string> piece = co_await body->next();
    if (!piece) break;
    // A reader that stops reading is cut after the idle timeout; the events it misses in the
    // meantime are counted by its queue, not held by the job.
    stream.expires_after(limits.idle_timeout);
    auto [error, bytes] = co_await asio::async_write(stream, asio::buffer(*piece), use_tuple);
    if (error) break;
  }
  self.body_stream = nullptr;
}

asio::awaitable<void> HttpServer::Impl::session(tcp::socket socket) {
  boost::system::error_code peer_error;
  const auto remote = socket.remote_endpoint(peer_error);
  const std::string peer =
      peer_error ? "-" : remote.address().to_string() + ":" + std::to_string(remote.port());
  beast::tcp_stream stream(std::move(socket));
  Connection self{&stream, true};
  connections.insert(&self);
  struct Unregister {
    std::unordered_set<Connection*>& set;
    Connection* connection;
    ~Unregister() { set.erase(connection); }
  } unregister{connections, &self};

  beast::flat_buffer buffer;
  while (!closing) {
    // Waiting for a request: bounded by the idle timeout. The request's headers, once begun,
    // by the (shorter) header timeout, so a slow client cannot hold a connection forever.
    self.idle = true;
    if (buffer.size() == 0) {
      stream.expires_after(limits.idle_timeout);
      auto [error, n] = co_await stream.async_read_some(buffer.prepare(kFirstReadChunk), use_tuple);
      if (error) break;
      buffer.commit(n);
    }
    self.idle = false;
    const auto started = std::chrono::steady_clock::now();

    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::uint64_t>(limits.max_header, UINT32_MAX)));
    parser.body_limit(limits.max_body);
    // Why this request is refused, if it is. The refusal is awaited in one place, with the
    // problem as a named local: GCC 12 mishandles non-trivial temporaries in a co_await
    // expression.
    std::optional<proto::Problem> refusal;
    unsigned version = 11;
    // HTTP/2 with prior knowledge opens with this preface; Beast would call it a bad version.
    constexpr std::string_view kHttp2Preface = "PRI * HTTP/2";
    const std::string_view opening(static_cast<const char*>(buffer.data().data()),
                                   std::min(buffer.size(), kHttp2Preface.size()));
    if (opening == kHttp2Preface) {
      proto::Problem h2{proto::problems::http_version, "HTTP/2 is not served; use HTTP/1.1", std::nullopt,
                        std::nullopt};
      co_await refuse(stream, h2, 11);
      break;
    }
    // The whole header usually came with the first read: parse what is buffered first, and go
    // asynchronous (with the header timeout) only for the rest, saving an operation and a timer
    // re-arm per request.
    boost::system::error_code header_error = parse_buffered(parser, buffer, /*header_only=*/true);
    if (!header_error && !parser.is_header_done()) {
      stream.expires_after(limits.header_timeout);
      auto [error, bytes] = co_await bhttp::async_read_header(stream, buffer, parser, use_tuple);
      header_error = error;
    }
    if (header_error == beast::error::timeout || header_error == bhttp::error::end_of_stream ||
        header_error == asio::error::eof || header_error == asio::error::operation_aborted ||
        header_error == asio::error::connection_reset) {
      break;
    }
    if (header_error == bhttp::error::body_limit) {
      // Beast checks Content-Length against the body limit as soon as the header is parsed,
      // so an announced oversize body is refused before a byte of it is read.
      refusal = proto::Problem{proto::problems::body_too_large,
                               "body exceeds " + std::to_string(limits.max_body) + " bytes (--max-body)",
                               std::nullopt, std::nullopt};
    } else if (header_error == bhttp::error::header_limit) {
      refusal = proto::Problem{
          proto::problems::headers_too_large,
          "request headers exceed " + std::to_string(limits.max_header) + " bytes (--max-header)",
          std::nullopt, std::nullopt};
    } else if (header_error == bhttp::error::bad_version) {
      refusal = proto::Problem{proto::problems::http_version, "this server speaks HTTP/1.1", std::nullopt,
                               std::nullopt};
    } else if (header_error) {
      refusal =
          proto::Problem{proto::problems::bad_request, header_error.message(), std::nullopt, std::nullopt};
    } else if (parser.get().version() != 10 && parser.get().version() != 11) {
      refusal = proto::Problem{proto::problems::http_version, "this server speaks HTTP/1.1", std::nullopt,
                               std::nullopt};
    } else if (parser.get().count(bhttp::field::transfer_encoding) > 0 && !parser.chunked()) {
      // RFC 9112 §6.3: a request whose last transfer coding is not chunked has no knowable
      // length. Beast would read it as bodiless and take the body for the next request (a
      // smuggling vector): refuse and close.
      refusal = proto::Problem{proto::problems::bad_request, "Transfer-Encoding must end with chunked",
                               std::nullopt, std::nullopt};
    } else {
      version = parser.get().version();
    }
    boost::system::error_code buffered_body_error;
    if (!refusal && !parser.is_done())
      buffered_body_error = parse_buffered(parser, buffer, /*header_only=*/false);
    if (buffered_body_error == bhttp::error::body_limit) {
      refusal = proto::Problem{proto::problems::body_too_large,
                               "body exceeds " + std::to_string(limits.max_body) + " bytes (--max-body)",
                               std::nullopt, std::nullopt};
    } else if (buffered_body_error) {
      refusal = proto::Problem{proto::problems::bad_request, buffered_body_error.message(), std::nullopt,
                               std::nullopt};
    }
    if (!refusal && !parser.is_done()) {
      if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> proceed{bhttp::status::continue_, version};
        stream.expires_after(limits.body_timeout);
        auto [error, n] = co_await bhttp::async_write(stream, proceed, use_tuple);
        if (error) break;
      }
      stream.expires_after(limits.body_timeout);
      auto [body_error, body_bytes] = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
      if (body_error == beast::error::timeout || body_error == asio::error::eof ||
          body_error == bhttp::error::partial_message || body_error == asio::error::operation_aborted ||
          body_error == asio::error::connection_reset) {
        break;
      }
      if (body_error == bhttp::error::body_limit) {
        refusal = proto::Problem{proto::problems::body_too_large,
                                 "body exceeds " + std::to_string(limits.max_body) + " bytes (--max-body)",
                                 std::nullopt, std::nullopt};
      } else if (body_error) {
        refusal =
            proto::Problem{proto::problems::bad_request, body_error.message(), std::nullopt, std::nullopt};
      }
    }
    if (refusal) {
      co_await refuse(stream, *refusal, version);
      break;
    }

    auto message = parser.release();
    Request request;
    request.method = to_method(message.method());
    request.target = std::string(message.target());
    request.content_type = std::string(message[bhttp::field::content_type]);
    request.authorization = std::string(message[bhttp::field::authorization]);
    request.last_event_id = std::string(message["Last-Event-ID"]);
    request.if_none_match = std::string(message[bhttp::field::if_none_match]);  // [ui]
    request.body = std::move(message.body());
    const bool keep_alive = message.keep_alive();
    const bool head = request.method == Method::head;

    const RouteMatch match = match_route(request.method, request.path());
    // (No co_await inside a conditional expression: GCC 12 miscompiles that in coroutines.)
    Response response;
    metrics::note_loop_activity(match.name);
    if (api::Api::answers_now(match.route)) {
      const auto handler_start = std::chrono::steady_clock::now();
      response = api.handle_now(request, match);
      if (const auto took = std::chrono::steady_clock::now() - handler_start; took > limits.slow_handler) {
        spdlog::warn("slow handler: {} {} held the loop for {} ms", to_string(request.method), match.name,
                     std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
      }
    } else {
      response = co_await api.handle(request, match);
    }
    const unsigned status = response.status;
    const std::size_t body_size = response.body.size();
    if (response.stream) {
      co_await stream_body(stream, self, response, version);
      if (observer) {
        observer({peer, to_string(request.method), request.target, match.name, status, 0,
                  std::chrono::steady_clock::now() - started});
      }
      break;
    }
    const bool again = keep_alive && !response.close && !closing;
    const bool written = co_await write(stream, response, head, again, version);
    if (observer) {
      observer({peer, to_string(request.method), request.target, match.name, status, body_size,
                std::chrono::steady_clock::now() - started});
    }
    if (!written || !again) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace jobd::http
