#include "http/peer_watch.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace jobd::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
// The timer starts every watch due within this of the earliest one: one wake-up for a burst.
constexpr auto kStartSlack = std::chrono::milliseconds(2);
}  // namespace

void PeerWatch::arm(tcp::socket& socket, WatchStarter& starter) {
  socket_ = &socket;
  armed_ = true;
  gone_ = false;
  waiting_ = false;
  ++generation_;
  armed_at_ = std::chrono::steady_clock::now();
  starter.add(*this);
}

bool PeerWatch::disarm() {
  armed_ = false;
  hook_.unlink();  // (no-op when not in the starter's list)
  if (waiting_) {
    // The session reads or writes next, so nothing else is pending on the socket: cancel() ends
    // only this wait, whose handler then finds the watch disarmed.
    waiting_ = false;
    boost::system::error_code ignored;
    socket_->cancel(ignored);
  }
  return gone_;
}

WatchStarter::WatchStarter(const asio::any_io_executor& executor)
    : waiting_(executor, {.deadline = [](const PeerWatch& watch) { return watch.armed_at_ + kWatchDelay; },
                          // look() may emit the cancellation, which resumes nothing inline (the
                          // session's await completes through the loop): the list stays as it is.
                          .expire = [](PeerWatch& watch) { watch.look(); },
                          .window = kStartSlack}) {}

void PeerWatch::look() {
  char byte = 0;
  const auto peeked = ::recv(socket_->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (peeked > 0) return;  // a pipelined request: the client is there; stop watching
  if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    // Nothing yet. Asio's reactor is edge-triggered: having peeked first, any later byte, end or
    // reset is a new edge that completes this wait.
    waiting_ = true;
    socket_->async_wait(tcp::socket::wait_read, [self = shared_from_this(),
                                                 generation = generation_](boost::system::error_code error) {
      if (!self->armed_ || self->generation_ != generation) return;
      self->waiting_ = false;
      if (error == asio::error::operation_aborted) return;  // the session is ending
      self->look();
    });
    return;
  }
  // End of stream (0) or an error (reset): nobody will read the answer.
  gone_ = true;
  cancel_.emit(asio::cancellation_type::terminal);
}

bool input_waiting(tcp::socket& socket) {
  boost::system::error_code error;
  const std::size_t bytes = socket.available(error);
  return !error && bytes > 0;
}

}  // namespace jobd::http
