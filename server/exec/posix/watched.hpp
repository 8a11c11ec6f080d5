// Descriptors the event loop watches (pipes, worker sockets, pidfds): how they are closed, and
// how far a readiness report on a pidfd is believed. The one place that handles the
// stale-readiness hazard; both executors that own processes follow these two rules.
//
// The hazard. Asio registers each descriptor with epoll, the registration carrying a pointer to
// Asio's per-descriptor state, which Asio recycles for the next descriptor it registers. When
// Asio closes a socket it opened or accepted itself (an HTTP connection), it skips
// EPOLL_CTL_DEL and trusts close() to drop the registration. close() does not while another
// process holds the same open file, and the vfork child of a subprocess spawn holds a copy of
// every descriptor of jobd until its exec (spawner threads start children while the loop
// runs). The stale registration then reports events with a pointer to recycled state: a
// pidfd's wait completes although its process is alive. Acting on that would reap nothing and
// kill a live worker's or job's group, or report a running job as finished.
// tests/unit/watched_test.cpp reproduces it.
//
// Rule 1, close: every descriptor an executor watches is a WatchedFd, which deregisters from
// epoll (EPOLL_CTL_DEL, through release()) before it closes: an executor's own descriptors
// never leave a stale registration behind. (Asio 1.81 happens to deregister descriptors it
// was handed, as these are; the rule does not rest on that bookkeeping.)
//
// Rule 2, believe: a pidfd's readiness is a hint. wait_for_exit confirms the exit with
// waitid(WNOWAIT), which reaps nothing, and waits again when the process still runs. Pipes and
// sockets need no such check: a stale wake-up there makes a non-blocking read return EAGAIN,
// and Asio waits again on its own.
//
// Loop thread only. Never blocks.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <string>

namespace jobd::exec::posix {

// A stream_descriptor that deregisters before it closes (rule 1), on close() and on
// destruction alike.
class WatchedFd : public boost::asio::posix::stream_descriptor {
  using Descriptor = boost::asio::posix::stream_descriptor;

 public:
  using Descriptor::Descriptor;
  WatchedFd(WatchedFd&&) = default;
  WatchedFd& operator=(WatchedFd&&) = delete;
  ~WatchedFd() { close(); }

  // Cancels what waits on it, deregisters it, closes it. Idempotent. (Hides the base class's
  // close(), which may skip the deregistration.)
  void close() {
    if (is_open()) ::close(release());
  }
};

// How waiting for a child's exit ended.
struct ExitWait {
  enum class Result {
    exited,   // it is a zombie: nothing reaped yet (reap it with posix::reap_exited)
    aborted,  // the wait was cancelled while it still ran (the descriptor was closed)
    lost,     // waitid refused (ECHILD: reaped by someone else): not ours to wait for or signal
  };
  Result result = Result::exited;
  std::string why;  // aborted or lost: for the log
};

// Waits until the process behind `pidfd` has really exited (rule 2).
boost::asio::awaitable<ExitWait> wait_for_exit(WatchedFd& pidfd);

}  // namespace jobd::exec::posix
