#include "http/server.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <system_error>

#include "http/body_stream.hpp"
#include "http/session.hpp"

namespace jobd::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// Pause before accepting again after the process ran out of file descriptors.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

constexpr std::string_view kTooManyConnections =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/problem+json\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "Content-Length: 108\r\n\r\n"
    R"({"type":"/problems/too-many-connections","title":"Too many connections","status":503,"detail":"try later"}  )";

// What escaped a coroutine is logged (Beast's co_spawn completion handler): nothing may leave
// the loop unlogged.
void accept_loop_ended(const std::exception_ptr& failure) {
  if (!failure) return;
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    spdlog::critical("accept loop ended: {}", e.what());
  }
}

}  // namespace

struct HttpServer::Impl {
  asio::io_context& loop;
  tcp::acceptor acceptor;
  ServerState state;

  Impl(asio::io_context& io, Handler& handler, ServerLimits limits)
      : loop(io), acceptor(io), state(io.get_executor(), handler, limits) {}

  asio::awaitable<void> accept_loop();
  // Serves an accepted connection, or refuses it beyond --max-connections.
  void admit(tcp::socket socket);
};

HttpServer::HttpServer(asio::io_context& loop, Handler& handler, ServerLimits limits)
    : impl_(std::make_unique<Impl>(loop, handler, limits)) {}

HttpServer::~HttpServer() = default;

config::ListenAddress HttpServer::listen(const config::ListenAddress& address) {
  // A blocking resolve: this runs once at start-up, before the loop does. A numeric host
  // resolves to itself without a lookup.
  tcp::resolver resolver(impl_->loop);
  boost::system::error_code error;
  const auto endpoints = resolver.resolve(address.host, std::to_string(address.port),
                                          tcp::resolver::passive | tcp::resolver::numeric_service, error);
  if (error) throw std::system_error(error, "cannot resolve " + address.host);
  // The first address that binds: "localhost" may name ::1 first on a host without IPv6.
  auto& acceptor = impl_->acceptor;
  for (const auto& entry : endpoints) {
    acceptor.close(error);
    acceptor.open(entry.endpoint().protocol(), error);
    if (!error) acceptor.set_option(asio::socket_base::reuse_address(true), error);
    if (!error) acceptor.bind(entry.endpoint(), error);
    if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
    if (!error) {
      const tcp::endpoint bound = acceptor.local_endpoint();
      return {bound.address().to_string(), bound.port()};
    }
  }
  acceptor.close();
  throw std::system_error(error ? error : asio::error::host_not_found, "cannot listen");
}

void HttpServer::start() { asio::co_spawn(impl_->loop, impl_->accept_loop(), accept_loop_ended); }

void HttpServer::stop_accepting() {
  impl_->state.draining = true;
  // Connections the kernel completed but nobody accepted yet would be reset by the close, their
  // requests lost: take them in first (their answers close them).
  boost::system::error_code error;
  auto& acceptor = impl_->acceptor;
  acceptor.non_blocking(true, error);
  while (!error && acceptor.is_open()) {
    tcp::socket socket(impl_->loop);
    acceptor.accept(socket, error);
    if (!error) impl_->admit(std::move(socket));
  }
  acceptor.close(error);
}

void HttpServer::close_connections() {
  impl_->state.closing = true;
  // Idle connections: their sessions close them (or answer what already arrived).
  impl_->state.idle.wake_all();
  wake_lingering(impl_->state);
  for (Session& session : impl_->state.sessions) {
    if (session.body_stream) session.body_stream->close();
  }
  // The three waits' timers stop once their entries are gone, so that a loop run dry ends.
  impl_->state.idle.close();
  impl_->state.lingering.close();
  impl_->state.watch_starter.close();
}

void HttpServer::serve(int fd) {
  // Asio only reads, writes and shuts the descriptor down, which works for any stream socket
  // (a socketpair included); the protocol tag matters only for endpoints, and a peer address
  // that is not TCP shows as "-" in the access log.
  tcp::socket socket(impl_->loop);
  socket.assign(tcp::v4(), fd);
  spawn_session(impl_->state, std::move(socket));
}

std::size_t HttpServer::connections() const { return impl_->state.connections(); }

void HttpServer::on_request(std::function<void(const RequestRecord&)> observer) {
  impl_->state.observer = std::move(observer);
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
    admit(std::move(socket));
  }
}

void HttpServer::Impl::admit(tcp::socket socket) {
  if (state.connections() >= state.limits.max_connections) {
    // Refuse with a canned answer, without a coroutine: under a flood this must stay cheap.
    boost::system::error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(kTooManyConnections), ignored);
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    return;
  }
  boost::system::error_code no_delay_error;  // a peer that already reset: its session finds out
  socket.set_option(tcp::no_delay(true), no_delay_error);
  // Parked until its first bytes arrive: a connection that sends nothing costs no session.
  state.idle.park(std::move(socket), /*checked=*/false);
}

}  // namespace jobd::http
