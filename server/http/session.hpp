// One coroutine per connection: read a request, ask the handler, write the answer, top to
// bottom, until the client or the server ends it. It never decides what a request means (the
// Handler does) nor whether it is refused (refusals.hpp); it moves bytes and keeps time.
// Internal to http/: the public face is HttpServer (server.hpp), which owns the ServerState
// every session shares.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "http/handler.hpp"
#include "http/refusals.hpp"
#include "http/server.hpp"

namespace jobd::http {

class BodyStream;
class PeerWatch;

// A live connection, so that shutdown can close the idle ones and end the streamed bodies.
struct Connection {
  boost::beast::tcp_stream* stream = nullptr;
  bool idle = true;
  BodyStream* body_stream = nullptr;  // set while an event stream is being served
};

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

// What the sessions of one server share. Loop thread only.
struct ServerState {
  // Idle exchanges kept for the next requests (beyond these, one is freed when its connection
  // goes idle): no allocation per request for them.
  static constexpr std::size_t kSpareExchanges = 64;

  Handler& handler;
  ServerLimits limits;
  std::unordered_set<Connection*> connections;
  bool draining = false;  // shutdown began: every answer says Connection: close
  bool closing = false;   // the drain is over: idle connections close, unless a request is waiting
  std::function<void(const RequestRecord&)> observer;
  std::vector<std::unique_ptr<Exchange>> spare_exchanges;
};

// Serves one connection until it closes; registers itself in state.connections meanwhile. The
// coroutine must be spawned with `watch->slot()` as its cancellation slot (peer_watch.hpp).
boost::asio::awaitable<void> run_session(ServerState& state, boost::asio::ip::tcp::socket socket,
                                         std::shared_ptr<PeerWatch> watch);

}  // namespace jobd::http
