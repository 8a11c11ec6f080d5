#include "http/refusals.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <string>

namespace jobd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace problems = proto::problems;
using proto::Problem;

bool client_gone(const ParseState& state) {
  const auto& error = state.error;
  if (error == beast::error::timeout || error == asio::error::eof || error == bhttp::error::end_of_stream ||
      error == asio::error::operation_aborted || error == asio::error::connection_reset) {
    return true;
  }
  // Beast calls an end of input after part of a message partial_message. Inside the header it
  // is a malformed request (400); inside the body the client gave up on its own request.
  return state.header_done && error == bhttp::error::partial_message;
}

std::optional<Problem> refusal(const ParseState& state, const ServerLimits& limits) {
  if (state.opening.starts_with(kHttp2Preface)) {
    return Problem{problems::http_version, "HTTP/2 is not served; use HTTP/1.1", std::nullopt, std::nullopt};
  }
  const auto& error = state.error;
  if (error == bhttp::error::body_limit) {
    // Beast checks Content-Length against the body limit as soon as the header is parsed, so an
    // announced oversize body is refused before a byte of it is read.
    return Problem{problems::body_too_large,
                   "body exceeds " + std::to_string(limits.max_body) + " bytes (--max-body)", std::nullopt,
                   std::nullopt};
  }
  if (error == bhttp::error::header_limit) {
    return Problem{problems::headers_too_large,
                   "request headers exceed " + std::to_string(limits.max_header) + " bytes (--max-header)",
                   std::nullopt, std::nullopt};
  }
  if (error == bhttp::error::bad_version) {
    return Problem{problems::http_version, "this server speaks HTTP/1.1", std::nullopt, std::nullopt};
  }
  if (error) return Problem{problems::bad_request, error.message(), std::nullopt, std::nullopt};
  if (!state.header_done) return std::nullopt;
  if (state.version != 10 && state.version != 11) {
    return Problem{problems::http_version, "this server speaks HTTP/1.1", std::nullopt, std::nullopt};
  }
  if (state.transfer_encoding && !state.chunked) {
    // Beast would read such a request as bodiless and take its body for the next request (a
    // smuggling vector): refuse and close.
    return Problem{problems::bad_request, "Transfer-Encoding must end with chunked", std::nullopt,
                   std::nullopt};
  }
  return std::nullopt;
}

}  // namespace jobd::http
