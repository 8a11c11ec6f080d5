// The request and response that handlers see: plain values, no Beast, no sockets, so that the
// API can be unit-tested and fuzzed without a network (STYLE: handlers are functions).
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jobd/proto/problem.hpp"

namespace jobd::http {

class BodyStream;

enum class Method { get, head, post, put, patch, delete_, options, other };

std::string_view to_string(Method method) noexcept;

struct Request {
  Method method = Method::get;
  std::string target;  // as received: path and query
  std::string_view path() const;
  std::string_view query() const;
  std::string content_type;
  std::string authorization;
  std::string last_event_id;
  std::string if_none_match;  // [ui] revalidation of the dashboard's files (api/ui_assets.hpp)
  std::string body;
};

struct Response {
  unsigned status = 200;
  // A media type with static storage (a literal, or a table's entry): no copy per answer.
  std::string_view content_type = "application/json";
  std::string body;
  // A body that outlives every session (rendered once at start, or embedded in the binary): sent
  // instead of `body` when not empty, so a constant answer (/healthz, /v1/kinds, the page's files)
  // costs no copy per request.
  std::string_view fixed_body;
  // Headers besides Server, Date, Content-Type, Connection and Content-Length (which the
  // writer sets), each name once.
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after this response
  // When set, `body` is ignored: the session streams this instead and closes the connection
  // after it ends (a close-delimited body, as Server-Sent Events are usually served).
  std::shared_ptr<BodyStream> stream;

  std::string_view body_text() const { return fixed_body.empty() ? std::string_view(body) : fixed_body; }

  static Response json(unsigned status, const nlohmann::json& body);
  static Response problem(const proto::Problem& problem);
};

// The first value of query parameter `name`, percent-decoded; nullopt when absent.
// A value with a malformed escape comes back undecoded.
std::optional<std::string> query_param(std::string_view query, std::string_view name);
// Percent-decoding of a query component ('+' is a space); nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace jobd::http
