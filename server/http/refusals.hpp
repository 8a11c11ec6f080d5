// The session's refusal rules, as pure functions of what reading a request found: no socket,
// no parser, no timer, so each rule has a unit test of its own (tests/unit/refusals_test.cpp).
// The session fills a ParseState after each step (the opening bytes, the header, the body) and
// asks; it never decides a refusal anywhere else.
#pragma once

#include <boost/system/error_code.hpp>
#include <optional>
#include <string_view>

#include "http/server.hpp"
#include "jobd/proto/problem.hpp"

namespace jobd::http {

// HTTP/2 with prior knowledge opens with this preface; Beast would call it a bad version.
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2";

// What the session knows about the request it is reading.
struct ParseState {
  std::string_view opening;         // the request's first buffered bytes, before any parsing
  boost::system::error_code error;  // what the last read or parse step reported ("need more" is none)
  bool header_done = false;         // the fields below are known
  unsigned version = 11;            // 10 for HTTP/1.0, 11 for HTTP/1.1, ...
  bool transfer_encoding = false;   // the header has a Transfer-Encoding field
  bool chunked = false;             // and its last coding is chunked
};

// Whether the client went away or ran out of time (closed, reset, timed out, or shutdown
// cancelled the read): the session closes without answering, since nobody would read it. A
// request cut off inside its header is not this: it is refused (400), the client may still read.
bool client_gone(const ParseState& state);

// The problem to answer a request with, or nullopt when it may proceed. The connection is
// closed after a refusal (the session does not know where the next request would start).
//   HTTP/2 preface                          505
//   body larger than --max-body             413 (from Content-Length, before a byte of it is read)
//   header larger than --max-header         431
//   a version Beast cannot parse (HTTP/0.9) 505
//   any other parser error                  400
//   a version other than HTTP/1.0 or 1.1    505
//   Transfer-Encoding not ending in chunked 400 (RFC 9112 §6.3: no knowable length)
// Call it after client_gone() said no.
std::optional<proto::Problem> refusal(const ParseState& state, const ServerLimits& limits);

}  // namespace jobd::http
