// IdleConnections: keep-alive connections with no request in flight, held as small records
// (the socket, its deadline, list links: ~100 B) with one readiness wait each, as nginx does,
// instead of a suspended session coroutine with its frame, its stream, a pending read and a timer
// (~4.3 KiB each: 51 MiB at 10,000 idle connections). When bytes arrive (or the client leaves),
// a session is spawned for the connection again; idle timeouts come from one timer for all of
// them, in deadline order (every record waits the same idle timeout, so the list stays sorted).
// Loop thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "http/deadline_list.hpp"

namespace jobd::http {

struct ServerState;
class IdleConnections;

// One parked connection. Owned by its pending readiness wait's handler (which runs exactly once,
// or is destroyed with the loop), so a record is never freed under a pending operation.
struct Parked {
  explicit Parked(const boost::asio::any_io_executor& executor) : socket(executor) {}
  boost::asio::ip::tcp::socket socket;
  std::chrono::steady_clock::time_point deadline;
  IdleConnections* owner = nullptr;  // null once the server is gone: the handler only frees it
  bool expired = false;              // closed by the sweep: the handler only frees it
  AutoUnlinkHook hook;
};

class IdleConnections {
 public:
  IdleConnections(const boost::asio::any_io_executor& executor, ServerState& state,
                  std::chrono::milliseconds timeout);
  ~IdleConnections();
  IdleConnections(const IdleConnections&) = delete;
  IdleConnections& operator=(const IdleConnections&) = delete;

  // Parks a connection until the client sends bytes or leaves, or the idle timeout. `checked`:
  // the caller has just seen a read return EAGAIN on it in this same turn of the loop. Asio's
  // reactor is edge-triggered, so bytes that arrived before the wait began would never wake it:
  // unless checked, the socket is peeked first, and a session spawned at once when bytes wait.
  // `since`: when the connection went idle (its deadline is that plus the idle timeout).
  void park(boost::asio::ip::tcp::socket socket, bool checked,
            std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now());
  // Shutdown: wakes every parked connection, whose session then closes it (or answers the
  // request that already arrived on it).
  void wake_all();
  // Shutdown: no timer is left behind once every parked connection is gone (DeadlineList::close).
  void close() { parked_.close(); }
  std::size_t size() const { return count_; }

 private:
  void wait(std::unique_ptr<Parked> record);
  void ready(std::unique_ptr<Parked> record, boost::system::error_code error);
  void expire(Parked& record);
  void recycle(std::unique_ptr<Parked> record);

  boost::asio::any_io_executor executor_;
  ServerState& state_;
  std::chrono::milliseconds timeout_;
  DeadlineList<Parked, &Parked::hook> parked_;
  std::size_t count_ = 0;                        // parked_'s size, which is linear with auto-unlink hooks
  std::vector<std::unique_ptr<Parked>> spares_;  // records kept for the next parks
};

}  // namespace jobd::http
