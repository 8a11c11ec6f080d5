// The route table's vocabulary and its matcher, sans-I/O. The table itself (which path, which
// methods, who may call it, which handler, and which on replicas sharing a Redis store) is
// Api::routes() in api.cpp: a new route is one entry there plus its handler, and 404 and 405 +
// Allow follow from the table. The matcher never names a path of its own and never calls a
// handler.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "http/message.hpp"

namespace jobd::api {

class Api;

// A set of request methods. A set with GET admits HEAD too: HEAD is GET without the body
// (RFC 9110 §9.3.2), and the session leaves the body out.
class MethodSet {
 public:
  constexpr MethodSet() = default;
  constexpr MethodSet(std::initializer_list<http::Method> methods) {
    for (auto method : methods) bits_ |= bit(method);
  }
  constexpr bool admits(http::Method method) const {
    return (bits_ & bit(method)) != 0 ||
           (method == http::Method::head && (bits_ & bit(http::Method::get)) != 0);
  }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr MethodSet& operator|=(MethodSet other) {
    bits_ |= other.bits_;
    return *this;
  }
  // The Allow header value: "GET, HEAD, POST".
  std::string allow_header() const;

 private:
  static constexpr std::uint8_t bit(http::Method method) {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(method));
  }
  std::uint8_t bits_ = 0;
};

// Who may call a route when bearer tokens are configured (--token-file).
enum class Access {
  open,     // the probes: orchestrators call them without credentials
  metrics,  // open with --metrics-public, else as `token`
  token,    // only with a configured token
};

// A handler: a function from request to response. `id` is the pattern's {id} segment, if any.
// Most answer at once; a route that waits (a long-poll) is a coroutine. It takes the request and
// the id by reference, not by copy: the session awaits it at once and keeps the request (and so
// the path the id points into) until the answer is written (http/handler.hpp).
using AnswerNow = http::Response (Api::*)(const http::Request& request, std::string_view id);
using AnswerLater = boost::asio::awaitable<http::Response> (Api::*)(const http::Request& request,
                                                                    std::string_view id);

struct Route {
  // The path, literal but for at most one {name} segment (non-empty, without '/'), or a last
  // {name*} that takes the rest of the path, slashes included. Also the route's name: the
  // label of request metrics and the access log.
  std::string_view pattern;
  MethodSet methods;
  Access access = Access::token;
  std::variant<AnswerNow, AnswerLater> answer;
  // On replicas sharing their jobs on Redis (--store redis://): the handler that answers from
  // the shared store instead, for a route whose answer may name jobs another replica holds (it
  // waits for Redis, so it is a coroutine). Null: `answer` on every store.
  AnswerLater shared = nullptr;
};

// The table a replica on a shared store serves: each route's `shared` handler, where it has
// one, in place of its `answer`. Chosen once at start-up, so matching a request picks nothing.
std::vector<Route> on_shared_store(std::span<const Route> table);

struct RouteMatch {
  const Route* route = nullptr;         // null: no route for this path (404) or method (405)
  std::string_view id;                  // the {id} segment: a view into the path
  std::string_view name = "unmatched";  // the matched pattern, or "unmatched"
  MethodSet allowed;                    // the path's methods, when the method was not one (405)
};

// The first route whose pattern matches the path and whose methods admit the method.
RouteMatch match_route(std::span<const Route> table, http::Method method, std::string_view path);

}  // namespace jobd::api
