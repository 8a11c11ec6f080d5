#include "http/session.hpp"

#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/flat_static_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>

#include "http/body_stream.hpp"
#include "http/drained_read.hpp"
#include "http/peer_watch.hpp"
#include "http/refusals.hpp"
#include "http/response_writer.hpp"

namespace jobd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// A body up to this size is copied behind the rendered head and sent with it as one buffer
// (send_now: send() rather than sendmsg(), whose msghdr and iovec array the kernel copies in):
// the copy costs less than that. A bigger body goes as the second buffer of a gather write.
constexpr std::size_t kJoinedBody = 1024;

namespace {

using RequestParser = Exchange::Parser;

enum class RecvNow { bytes, nothing, gone };

// One non-blocking read of what the client sent into the session's first_bytes (sets fresh):
// bytes; nothing yet; or the client left (or reset).
RecvNow recv_now(tcp::socket& socket, Session& session) {
  const auto got =
      ::recv(socket.native_handle(), session.first_bytes.data(), session.first_bytes.size(), MSG_DONTWAIT);
  if (got > 0) {
    session.fresh = static_cast<std::size_t>(got);
    return RecvNow::bytes;
  }
  if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return RecvNow::gone;
  return RecvNow::nothing;
}

// An exchange for a new request: a spare one, or a new one.
std::unique_ptr<Exchange> take_exchange(ServerState& state) {
  if (state.spare_exchanges.empty()) return std::make_unique<Exchange>();
  std::unique_ptr<Exchange> exchange = std::move(state.spare_exchanges.back());
  state.spare_exchanges.pop_back();
  return exchange;
}

// The connection goes idle: its exchange is emptied (a big body is not kept) and kept for
// another request, unless enough are kept already.
void give_back(ServerState& state, std::unique_ptr<Exchange>& exchange) {
  if (!exchange) return;
  if (state.spare_exchanges.size() < ServerState::kSpareExchanges) {
    exchange->clear();
    state.spare_exchanges.push_back(std::move(exchange));
  }
  exchange.reset();
}

// Feeds the parser what the buffer already holds, without I/O. Stops at the end of the header
// (header_only) or of the message; "need more" is not an error: the caller reads on.
template <class DynamicBuffer>
boost::system::error_code parse_buffered(RequestParser& parser, DynamicBuffer& buffer, bool header_only) {
  boost::system::error_code error;
  while (buffer.size() > 0 && !(header_only ? parser.is_header_done() : parser.is_done())) {
    const auto used = parser.put(buffer.data(), error);
    buffer.consume(used);
    if (error == bhttp::error::need_more) return {};
    if (error || used == 0) break;
  }
  return error;
}

// Moves what is left in `from` (the first read's bytes, parsed in place) to the end of `to`, the
// buffer that the asynchronous reads fill.
void spill(beast::flat_static_buffer_base& from, beast::flat_buffer& to) {
  if (from.size() == 0) return;
  to.commit(asio::buffer_copy(to.prepare(from.size()), from.data()));
  from.consume(from.size());
}

std::string_view text_of(asio::const_buffer bytes) {
  return {static_cast<const char*>(bytes.data()), bytes.size()};
}

// What the refusal rules look at in a parsed header.
void note_header(ParseState& state, const RequestParser& parser) {
  state.header_done = true;
  state.version = parser.get().version();
  state.transfer_encoding = parser.get().count(bhttp::field::transfer_encoding) > 0;
  state.chunked = parser.chunked();
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

Request to_request(RequestParser::value_type&& message) {
  Request request;
  request.method = to_method(message.method());
  request.target = std::string(message.target());
  request.content_type = std::string(message[bhttp::field::content_type]);
  request.authorization = std::string(message[bhttp::field::authorization]);
  request.last_event_id = std::string(message["Last-Event-ID"]);
  request.if_none_match = std::string(message[bhttp::field::if_none_match]);
  request.body = std::move(message.body());
  return request;
}

// Calls the handler, and warns when an answer given at once held the loop too long.
Answer ask(Handler& handler, const Request& request, std::chrono::milliseconds slow) {
  const auto start = std::chrono::steady_clock::now();
  Answer answer = handler.handle(request);
  if (const auto took = std::chrono::steady_clock::now() - start; took > slow) {
    spdlog::warn("slow handler: {} {} held the loop for {} ms", to_string(request.method), answer.route,
                 std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
  }
  return answer;
}

// Answers a refused request (the caller then ends the connection). A coroutine of its own, as
// are write_continue and write_streamed: every local of run_session lives in its frame, which
// each idle connection holds, and refusals are rare.
asio::awaitable<void> refuse(ServerState& state, beast::tcp_stream& stream, const proto::Problem& problem,
                             unsigned version) {
  Response refused = Response::problem(problem);
  if (state.observer) state.observer({"-", "-", "-", "refused", refused.status, refused.body.size(), {}});
  co_await write_refusal(stream, refused, version, state.limits.idle_timeout);
}

}  // namespace

// (Going idle, the coroutine ends and the connection waits as a small record in state.idle.)
asio::awaitable<void> run_session(ServerState& state, Session& session) {
  // The watch cancels an await when the client leaves; a cancelled operation reports an error
  // value like any other, and later ones run normally (no exception).
  co_await asio::this_coro::throw_if_cancelled(false);
  const ServerLimits& limits = state.limits;
  beast::tcp_stream& stream = session.stream;
  PeerWatch& watch = *session.watch;
  beast::flat_buffer& buffer = session.buffer;
  std::unique_ptr<Exchange>& exchange = session.exchange;
  state.sessions.push_back(session);
  ++state.active;
  struct Unregister {
    ServerState& state;
    Session& session;
    ~Unregister() {
      session.hook.unlink();
      --state.active;
      // The session goes back to the spares: what the last request held (an event stream's
      // subscription, a big body) is let go now.
      give_back(state, session.exchange);
      session.buffer.clear();
      session.buffer.shrink_to_fit();
    }
  } unregister{state, session};

  bool peer_gone = false;     // a stream served off the loop found the client gone
  bool parked = false;        // the connection went idle: it lives on in state.idle
  bool idle_started = false;  // session.idle_since is this idle period's start
  bool first = true;          // the session's first read
  for (;;) {
    if (buffer.size() == 0) {
      // The drain is over: close, unless the client already sent its next request.
      if (state.closing && !input_waiting(stream.socket())) break;
      buffer.shrink_to_fit();  // empty: its storage is freed while the connection waits
      give_back(state, exchange);
      if (first) {
        // Spawned because bytes arrived: read them now, without an asynchronous operation.
        first = false;
        if (recv_now(stream.socket(), session) == RecvNow::gone) break;  // the client left (or reset)
      }
    }
    if (buffer.size() == 0 && session.fresh == 0) {
      // Nothing buffered: the session waits a moment for the next request (a busy client's
      // comes soon), then the linger sweep ends the read and the connection is parked: no
      // coroutine, no timer of its own, until bytes arrive or the idle timeout ends it.
      if (!idle_started) session.idle_since = std::chrono::steady_clock::now();
      idle_started = true;
      session.demoted = false;
      state.lingering.push_back(session);
      stream.expires_never();  // the idle timeout is the parked connection's
      // A read that, when it finds the client's next request not there yet (it is still reading
      // this answer), costs no system call: the previous read was short, so the reactor knows
      // the socket is drained and queues this one until the descriptor's next event
      // (http/drained_read.hpp). Ended by the linger sweep (a cancel), the connection is parked.
      auto [error, n] = co_await async_read_some_drained(stream.socket(), asio::buffer(session.first_bytes),
                                                         state.reactor, use_tuple);
      session.fresh = n;
      session.linger_hook.unlink();
      if (error == asio::error::operation_aborted && session.demoted) {
        // (Peeked again before the wait: bytes may have come as the read was cancelled.)
        state.idle.park(std::move(stream.socket()), /*checked=*/false, session.idle_since);
        parked = true;
        break;
      }
      if (error == asio::error::operation_aborted && state.closing) continue;  // woken by wake_lingering
      if (error) break;
      idle_started = false;
    }
    // The request's first bytes: read into first_bytes just now (parsed there, in place), or left
    // in `buffer` by the previous request (pipelined). What is still unparsed when the session must
    // read again, or when this request is parsed, moves into `buffer`.
    beast::flat_static_buffer_base in_place(session.first_bytes.data(), session.first_bytes.size());
    in_place.commit(asio::buffer_size(in_place.prepare(session.fresh)));
    session.fresh = 0;
    const auto started = std::chrono::steady_clock::now();

    if (!exchange) exchange = take_exchange(state);
    Exchange& x = *exchange;
    RequestParser& parser = x.new_parser();
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::uint64_t>(limits.max_header, UINT32_MAX)));
    parser.body_limit(limits.max_body);
    // Each step below updates `parse` and asks the refusal rules (http/refusals.hpp). A refusal
    // is written in one place, with the response as a named local: GCC 12 mishandles non-trivial
    // temporaries in a co_await expression.
    ParseState& parse = x.parse;
    parse = ParseState{};
    parse.opening = in_place.size() > 0 ? text_of(in_place.data()) : text_of(buffer.data());
    std::optional<proto::Problem>& problem = x.problem;
    problem = refusal(parse, limits);
    parse.opening = {};  // a view into the buffer, which parsing consumes
    unsigned version = 11;
    if (!problem) {
      // The whole header usually came with the first read: parse what is buffered first, and go
      // asynchronous (with the header timeout) only for the rest, saving an operation and a
      // timer re-arm per request.
      if (in_place.size() > 0) {
        parse.error = parse_buffered(parser, in_place, /*header_only=*/true);
        if (!parser.is_header_done()) spill(in_place, buffer);
      } else {
        parse.error = parse_buffered(parser, buffer, /*header_only=*/true);
      }
      if (!parse.error && !parser.is_header_done()) {
        stream.expires_after(limits.header_timeout);
        auto [error, bytes] = co_await bhttp::async_read_header(stream, buffer, parser, use_tuple);
        parse.error = error;
      }
      if (client_gone(parse)) break;
      if (!parse.error) note_header(parse, parser);
      problem = refusal(parse, limits);
    }
    if (!problem) {
      version = parse.version;
      if (!parser.is_done()) {
        parse.error = parse_buffered(parser, in_place, /*header_only=*/false);
        if (!parse.error && !parser.is_done())
          parse.error = parse_buffered(parser, buffer, /*header_only=*/false);
        problem = refusal(parse, limits);
      }
    }
    spill(in_place, buffer);  // a pipelined request, or the part of this body still to come
    if (!problem && !parser.is_done()) {
      if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
        const bool sent = co_await write_continue(stream, version, limits.body_timeout);
        if (!sent) break;
      }
      stream.expires_after(limits.body_timeout);
      auto [error, bytes] = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
      parse.error = error;
      if (client_gone(parse)) break;
      problem = refusal(parse, limits);
    }
    if (problem) {
      co_await refuse(state, stream, *problem, version);
      break;
    }

    const bool keep_alive = parser.get().keep_alive();
    Request& request = x.request;
    request = to_request(parser.release());
    Answer& answer = x.answer.emplace(ask(state.handler, request, limits.slow_handler));
    // (No co_await inside a conditional expression: GCC 12 miscompiles that in coroutines.)
    Response& response = x.response;
    response = Response{};
    if (auto* ready = std::get_if<Response>(&answer.response)) {
      response = std::move(*ready);
    } else {
      // A long-poll: a client that leaves meanwhile ends the wait and frees its slot. Bytes read
      // past this request already are a pipelined request, not an end: nothing to watch.
      auto& later = std::get<asio::awaitable<Response>>(answer.response);
      if (buffer.size() == 0) {
        WatchScope watching(watch, stream.socket(), state.watch_starter);
        response = co_await std::move(later);
      } else {
        response = co_await std::move(later);
      }
      if (watch.disarm()) break;  // gone: nobody would read the answer
    }
    const unsigned status = response.status;
    const std::size_t body_size = response.body_text().size();
    const bool head = request.method == Method::head;
    if (response.stream) {
      // Registered for shutdown, which ends the stream (at once when it already began).
      session.body_stream = response.stream.get();
      if (state.closing) response.stream->close();
      if (!head && response.stream->serves_socket()) {
        // Served off the loop thread, pipelined bytes behind the request included: a
        // close-delimited body is the connection's last answer, and the stream reads and drops
        // what the client sends (that is how it notices the client leave).
        peer_gone = co_await write_handed_over(stream, response, version, limits.idle_timeout);
      } else if (!head && buffer.size() == 0) {
        WatchScope watching(watch, stream.socket(),
                            state.watch_starter);  // a client leaving ends the stream
        co_await write_streamed(stream, response, version, limits.idle_timeout, head);
      } else {
        co_await write_streamed(stream, response, version, limits.idle_timeout, head);
      }
      session.body_stream = nullptr;
      if (state.observer) {
        state.observer({session.peer, to_string(request.method), request.target, answer.route, status, 0,
                        std::chrono::steady_clock::now() - started});
      }
      break;
    }
    // While draining, every answer closes the connection (the client learns to go elsewhere).
    const bool draining = state.draining;
    const bool again = keep_alive && !response.close && !draining;
    // The head is rendered into the exchange's buffer, a small body copied behind it, and the
    // answer goes out in one write (a gather write for a bigger body): sent at once when the
    // socket takes it all (nearly always), awaited here for what it did not take. No Beast
    // message, no coroutine frame per answer.
    render_head(x.head, response, again, version);
    std::string_view rest_body = head ? std::string_view{} : response.body_text();
    if (rest_body.size() <= kJoinedBody) {
      x.head.append(rest_body);
      rest_body = {};
    }
    std::string_view rest_head = x.head;
    const SentNow now = send_now(stream.socket(), rest_head, rest_body);
    bool written = !now.failed;
    if (written && now.bytes < rest_head.size() + rest_body.size()) {
      const std::size_t of_head = std::min(now.bytes, rest_head.size());
      rest_head.remove_prefix(of_head);
      rest_body.remove_prefix(now.bytes - of_head);
      auto [write_error, written_bytes] =
          co_await write_rendered(stream, rest_head, rest_body, limits.idle_timeout);
      written = !write_error;
    }
    if (state.observer) {
      state.observer({session.peer, to_string(request.method), request.target, answer.route, status,
                      body_size, std::chrono::steady_clock::now() - started});
    }
    if (!written) break;
    if (again) continue;
    // A request the client sent before it could read that close (pipelined, or on its way) has
    // reached jobd and gets its answer too (during a drain a submit is refused with 503, so
    // nothing new starts); then the connection closes.
    if (draining && keep_alive && !response.close && (buffer.size() > 0 || input_waiting(stream.socket()))) {
      continue;
    }
    break;
  }
  if (parked) co_return;
  if (state.draining && !watch.gone() && !peer_gone) {
    // A staged close (RFC 9112 §9.6): our FIN first, then what the client still sends is read and
    // dropped until it closes, so that a reset does not destroy an answer it has not read yet.
    co_await close_gracefully(stream);
  } else {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
  stream.close();
}

}  // namespace jobd::http
