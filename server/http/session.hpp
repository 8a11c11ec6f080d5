// One coroutine per busy connection: read a request, ask the handler, write the answer, top to
// bottom, until the client or the server ends it or the connection goes idle (then it is
// parked in IdleConnections, idle.hpp, and a new session serves its next request). It never
// decides what a request means (the Handler does) nor whether it is refused (refusals.hpp); it
// moves bytes and keeps time. Internal to http/: the public face is HttpServer (server.hpp),
// which owns the ServerState every session shares.
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/intrusive/list.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "http/deadline_list.hpp"
#include "http/handler.hpp"
#include "http/idle.hpp"
#include "http/peer_watch.hpp"
#include "http/refusals.hpp"
#include "http/server.hpp"

namespace boost::asio::detail {
class epoll_reactor;
}

namespace jobd::http {

class BodyStream;

// What serving one request takes (its parser, the request, the answer), kept off the session's
// coroutine frame, which every idle keep-alive connection holds for as long as it is open: GCC
// keeps in the frame every local that lives across a co_await. A session takes one when a
// request arrives and gives it back when the connection goes idle.
struct Exchange {
  // Where the parser's header fields and target are allocated: kFieldBytes inside the exchange,
  // then the heap; emptied before each request. Beast allocates a node per field otherwise.
  static constexpr std::size_t kFieldBytes = 512;
  using Allocator = std::pmr::polymorphic_allocator<char>;
  using Parser = boost::beast::http::request_parser<boost::beast::http::string_body, Allocator>;

  Exchange() : fields(field_bytes.data(), field_bytes.size()) {}
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // A new parser, its fields in `fields` (the previous request's are dropped first).
  Parser& new_parser() {
    parser.reset();
    fields.release();
    return parser.emplace(std::piecewise_construct, std::make_tuple(), std::make_tuple(Allocator(&fields)));
  }

  alignas(std::max_align_t) std::array<char, kFieldBytes> field_bytes;
  std::pmr::monotonic_buffer_resource fields;
  std::optional<Parser> parser;
  ParseState parse;
  std::optional<proto::Problem> problem;
  Request request;
  std::optional<Answer> answer;
  Response response;
  std::string head;  // the answer's status line and headers; its capacity is kept for the next

  // Empties it for the next request (a big body is not kept; the head's capacity is).
  void clear() {
    parser.reset();
    fields.release();
    parse = ParseState{};
    problem.reset();
    request = Request{};
    answer.reset();
    response = Response{};
  }
};

// What a connection holds while a session serves it (from its first byte to the moment it goes
// idle or closes). Kept in a per-server list of spares between sessions, with its stream, watch
// and buffers: a keep-alive connection gets a session per request, without an allocation.
struct Session {
  // An idle connection's first bytes are read into first_bytes and parsed there; only what is
  // left over (a longer request, a pipelined one) goes to the read buffer, freed whenever empty.
  static constexpr std::size_t kFirstRead = 256;

  explicit Session(const boost::asio::any_io_executor& executor);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  boost::beast::tcp_stream stream;
  std::shared_ptr<PeerWatch> watch;  // the session coroutine's cancellation slot (peer_watch.hpp)
  boost::beast::flat_buffer buffer;
  std::array<char, kFirstRead> first_bytes;
  std::size_t fresh = 0;               // bytes of first_bytes just read
  std::string peer;                    // "address:port" for the access log
  std::unique_ptr<Exchange> exchange;  // the request being served
  BodyStream* body_stream = nullptr;   // set while an event stream is being served
  AutoUnlinkHook hook;                 // in ServerState::sessions while it runs
  // Lingering: the connection went idle at idle_since, and the session waits a moment for the
  // next request before it parks the connection (ServerState::lingering).
  std::chrono::steady_clock::time_point idle_since;
  bool demoted = false;  // its wait was ended by the linger sweep: park the connection
  AutoUnlinkHook linger_hook;
};

// When a lingering session is woken to park its connection, and how (session_spawn.cpp).
DeadlineList<Session, &Session::linger_hook>::Policy linger_policy(const ServerLimits& limits);

// What the sessions of one server share. Loop thread only.
struct ServerState {
  // Idle exchanges kept for the next requests (beyond these, one is freed when its connection
  // goes idle): no allocation per request for them.
  static constexpr std::size_t kSpareExchanges = 64;

  // Spare sessions kept likewise (a session per request on a keep-alive connection).
  static constexpr std::size_t kSpareSessions = 64;
  using Sessions =
      boost::intrusive::list<Session, boost::intrusive::member_hook<Session, AutoUnlinkHook, &Session::hook>,
                             boost::intrusive::constant_time_size<false>>;
  using Lingering = DeadlineList<Session, &Session::linger_hook>;

  ServerState(const boost::asio::any_io_executor& executor, Handler& h, const ServerLimits& l)
      : handler(h),
        limits(l),
        idle(executor, *this, l.idle_timeout),
        lingering(executor, linger_policy(l)),
        watch_starter(executor),
        reactor(reactor_of(executor)) {}
  ServerState(const ServerState&) = delete;
  ServerState& operator=(const ServerState&) = delete;
  // Open connections: served by a session, or parked.
  std::size_t connections() const { return active + idle.size(); }

  Handler& handler;
  ServerLimits limits;
  Sessions sessions;       // running sessions, so that shutdown can end their event streams
  std::size_t active = 0;  // sessions.size() (linear with auto-unlink hooks)
  IdleConnections idle;
  // Sessions waiting a moment for their connection's next request, in the order they began
  // (parking at once would spawn a session per request on a busy keep-alive connection): those
  // that waited long enough are woken to park their connection.
  Lingering lingering;
  WatchStarter watch_starter;  // starts the peer watches of awaits that last (peer_watch.hpp)
  bool draining = false;       // shutdown began: every answer says Connection: close
  bool closing = false;        // the drain is over: idle connections close, unless a request is waiting
  std::function<void(const RequestRecord&)> observer;
  std::vector<std::unique_ptr<Exchange>> spare_exchanges;
  std::vector<std::unique_ptr<Session>> spare_sessions;
  // The io_context's reactor, for the sessions' reads (http/drained_read.hpp).
  boost::asio::detail::epoll_reactor& reactor;

 private:
  static boost::asio::detail::epoll_reactor& reactor_of(const boost::asio::any_io_executor& executor);
};

// Serves a connection with a session (a coroutine) until it closes or goes idle (then it is
// parked in state.idle, and served by a new session when bytes arrive).
void spawn_session(ServerState& state, boost::asio::ip::tcp::socket socket);
// Serves `session`'s connection until it closes or goes idle (session.cpp). Spawned by
// spawn_session with `session.watch->slot()` as its cancellation slot (peer_watch.hpp).
boost::asio::awaitable<void> run_session(ServerState& state, Session& session);
// Shutdown: ends the lingering sessions' waits (each then closes its connection, or answers the
// request that already arrived on it).
void wake_lingering(ServerState& state);

}  // namespace jobd::http
