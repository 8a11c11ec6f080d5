// PeerWatch: notices that a client went away while its session waits with nothing to read: during
// a long-poll (a handler the session awaits) and between the events of a stream. Without it, a
// waiter whose client had closed held its connection slot until the wait ended: 5,000 abandoned
// 30 s long-polls kept --max-connections full, /healthz included, for 30 s (issue 17).
//
// How: each session's coroutine is spawned with a cancellation slot bound to this watch's
// signal. While the session awaits, the watch waits for the socket to turn readable and peeks
// at one byte: end of stream or an error (a reset) means the client is gone, and the watch emits
// a terminal cancellation, which ends whatever the session awaits (the scheduler's timer, an
// event queue's wait). A byte means a pipelined request, not an end: the watch stops, and the
// request is read after the answer. A client that half-closes (shutdown(SHUT_WR)) while it waits
// is taken as gone, as nginx does. Loop thread only; never reads a byte off the socket.
//
// Most awaits end within microseconds (an echo job, a short thread job): a watch begins looking
// only once its await has lasted kWatchDelay, from one timer for all watches (WatchStarter).
// Looking at once cost every such request a peek, an epoll_ctl (a readiness wait is never
// speculative in Asio) and a cancellation. A client that leaves is noticed that much later.
#pragma once

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>

#include "http/deadline_list.hpp"

namespace jobd::http {

class WatchStarter;

// How long an await runs before its watch begins looking at the socket.
constexpr std::chrono::milliseconds kWatchDelay{10};

class PeerWatch : public std::enable_shared_from_this<PeerWatch> {
 public:
  // Bound to the session coroutine at co_spawn: emitting on it cancels what the session awaits.
  boost::asio::cancellation_slot slot() { return cancel_.slot(); }

  // Starts watching `socket` once the await has lasted kWatchDelay (see above): an await that
  // ends sooner costs no system call. The session must not read from the socket until disarm().
  void arm(boost::asio::ip::tcp::socket& socket, WatchStarter& starter);
  // Stops watching; true when the client went away meanwhile (nobody would read the answer).
  // Idempotent.
  bool disarm();
  bool gone() const { return gone_; }

 private:
  friend class WatchStarter;
  // Peeks at the socket: gone (cancel the session's await), data (stop), or nothing yet (wait).
  void look();

  boost::asio::cancellation_signal cancel_;
  boost::asio::ip::tcp::socket* socket_ = nullptr;
  std::uint64_t generation_ = 0;  // of the current arm(): callbacks of an earlier one do nothing
  bool armed_ = false;
  bool waiting_ = false;  // an async_wait on the socket is pending
  bool gone_ = false;
  std::chrono::steady_clock::time_point armed_at_;
  AutoUnlinkHook hook_;  // in WatchStarter's list until it begins looking, or is disarmed
};

// The armed watches that have not begun looking yet, oldest first, and the one timer that starts
// them. One per server; loop thread only. A watch leaves the list when disarmed or destroyed.
class WatchStarter {
 public:
  explicit WatchStarter(const boost::asio::any_io_executor& executor);
  void add(PeerWatch& watch) { waiting_.push_back(watch); }
  // Shutdown: no timer is left behind once every watch has started or left (DeadlineList::close).
  void close() { waiting_.close(); }

 private:
  DeadlineList<PeerWatch, &PeerWatch::hook_> waiting_;
};

// Disarms a watch when the await it covers ends, however it ends.
struct WatchScope {
  PeerWatch& watch;
  WatchScope(PeerWatch& w, boost::asio::ip::tcp::socket& socket, WatchStarter& starter) : watch(w) {
    watch.arm(socket, starter);
  }
  ~WatchScope() { watch.disarm(); }
  WatchScope(const WatchScope&) = delete;
  WatchScope& operator=(const WatchScope&) = delete;
};

// Whether the client already sent bytes the session has not read (FIONREAD), without reading.
bool input_waiting(boost::asio::ip::tcp::socket& socket);

}  // namespace jobd::http
