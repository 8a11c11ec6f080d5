// A response body produced over time (Server-Sent Events). The handler returns one inside its
// Response; the session writes the head, then each piece next() yields, until it yields none.
// A stream may instead serve the socket itself (serves_socket()): the session writes the head,
// then hands the connected descriptor over with serve() and awaits the end there.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

namespace jobd::http {

class BodyStream {
 public:
  virtual ~BodyStream() = default;
  // The next bytes to send (possibly several events at once), or nullopt at the end.
  virtual boost::asio::awaitable<std::optional<std::string>> next() = 0;
  // Ends the stream soon (shutdown): a pending next() returns nullopt, a pending serve() returns.
  virtual void close() = 0;

  // Whether the stream writes its body itself, off the loop thread (GET /v1/events: 500 streams
  // cost the loop 19x the CPU per job of none when the loop wrote them; api/event_fanout.hpp).
  virtual bool serves_socket() const { return false; }
  // Takes the connected socket's descriptor (the head already sent), writes the body until the
  // stream ends, and gives the descriptor back to the session (which closes the connection as
  // after any stream), or -1 when the client went away and the stream closed it. The session
  // stays alive meanwhile: its slot, the shutdown registry and the access log are unchanged.
  virtual boost::asio::awaitable<int> serve(int fd) { co_return fd; }
};

}  // namespace jobd::http
