// Sessions' lives: spawned (from the spares) when a connection has bytes, lingering a moment when
// it goes idle, back to the spares when done. run_session (session.cpp) serves the connection.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <iterator>

#include "http/drained_read.hpp"
#include "http/peer_watch.hpp"
#include "http/session.hpp"

namespace jobd::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// How long a session waits for its connection's next request before it parks the connection.
constexpr auto kLinger = std::chrono::milliseconds(50);
// The linger sweep parks every session whose linger ends within this of the earliest one.
constexpr auto kLingerSlack = std::chrono::milliseconds(5);

}  // namespace

DeadlineList<Session, &Session::linger_hook>::Policy linger_policy(const ServerLimits& limits) {
  const auto linger = std::min<std::chrono::steady_clock::duration>(kLinger, limits.idle_timeout);
  return {.deadline = [linger](const Session& session) { return session.idle_since + linger; },
          .expire =
              [](Session& session) {
                session.demoted = true;
                boost::system::error_code ignored;
                session.stream.socket().cancel(ignored);  // its only pending operation is the wait
              },
          .window = kLingerSlack};
}

namespace {

// Sessions are kept for the next connections to need one: a keep-alive connection gets a session
// per request, without allocating a stream, a watch or buffers.
std::unique_ptr<Session> take_session(ServerState& state, const asio::any_io_executor& executor) {
  if (state.spare_sessions.empty() || state.spare_sessions.back()->watch->gone())
    return std::make_unique<Session>(executor);
  std::unique_ptr<Session> session = std::move(state.spare_sessions.back());
  state.spare_sessions.pop_back();
  return session;
}

void session_ended(const std::exception_ptr& failure) {
  if (!failure) return;
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    spdlog::error("connection ended by an exception: {}", e.what());
  }
}
}  // namespace

Session::Session(const asio::any_io_executor& executor)
    : stream(executor), watch(std::make_shared<PeerWatch>()) {}

Session::~Session() = default;

asio::detail::epoll_reactor& ServerState::reactor_of(const asio::any_io_executor& executor) {
  return http::reactor_of(executor);
}

void wake_lingering(ServerState& state) {
  for (Session& session : state.lingering.entries()) {
    boost::system::error_code ignored;
    session.stream.socket().cancel(ignored);
  }
}

void spawn_session(ServerState& state, tcp::socket socket) {
  const asio::any_io_executor executor = socket.get_executor();
  std::unique_ptr<Session> session = take_session(state, executor);
  Session& s = *session;
  s.stream.socket() = std::move(socket);
  s.buffer.clear();
  s.fresh = 0;
  s.body_stream = nullptr;
  // The peer's address, for the access log, when someone reads it.
  s.peer.clear();
  if (state.observer) {
    boost::system::error_code error;
    const auto remote = s.stream.socket().remote_endpoint(error);
    if (error) {
      s.peer.push_back('-');  // (not `= "-"`: GCC 12 warns of a bogus overflow)
    } else {
      fmt::format_to(std::back_inserter(s.peer), "{}:{}", remote.address().to_string(), remote.port());
    }
  }
  // The watch's signal is the session's cancellation slot. The completion handler owns the
  // session: it goes back to the spares when the coroutine is done with it (or is freed with the
  // loop, if that goes first).
  auto slot = s.watch->slot();
  asio::co_spawn(executor, run_session(state, s),
                 asio::bind_cancellation_slot(
                     slot, [&state, session = std::move(session)](const std::exception_ptr& failure) mutable {
                       session_ended(failure);
                       if (state.spare_sessions.size() < ServerState::kSpareSessions)
                         state.spare_sessions.push_back(std::move(session));
                     }));
}

}  // namespace jobd::http
