// A response body produced over time (Server-Sent Events). The handler returns one inside its
// Response; the session writes the head, then each piece next() yields, until it yields none.
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
  // Ends the stream soon (shutdown): a pending next() returns nullopt.
  virtual void close() = 0;
};

}  // namespace jobd::http
