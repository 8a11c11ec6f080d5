// Handler: what the HTTP shell asks of the application, once per request. The shell parses,
// limits and writes; the handler maps a Request to an Answer and never touches a socket
// (STYLE: handlers are functions from request to response). `http/` knows nothing of routes,
// jobs or metrics: the application (api::Api) implements this interface.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>
#include <variant>

#include "http/message.hpp"

namespace jobd::http {

// The handler's answer to one request.
struct Answer {
  // The route template the request took (e.g. /v1/jobs/{id}), with static storage: the label of
  // request metrics and the access log, and the name in the slow-handler warning.
  std::string_view route;
  // Most routes answer at once, without a coroutine frame (the throughput path); a route that
  // waits (a long-poll) returns a coroutine, which the session awaits.
  std::variant<Response, boost::asio::awaitable<Response>> response;
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Called on the loop thread. The request outlives the returned coroutine, if any, only
  // because the session awaits it at once; a handler that needs the request later copies it.
  virtual Answer handle(const Request& request) = 0;
};

}  // namespace jobd::http
