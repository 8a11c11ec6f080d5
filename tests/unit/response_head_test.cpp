// render_head (http/response_writer.hpp) against Beast's own serializer: the session writes
// heads by hand to spare a Beast message (and its allocations) per answer, and must send the
// bytes it sent before, for every status, version, keep-alive choice and set of headers the
// handlers produce. No socket.
#include <gtest/gtest.h>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <sstream>
#include <string>

#include "http/response_writer.hpp"

using namespace jobd::http;
namespace bhttp = boost::beast::http;

namespace {

// The head Beast wrote for `response` when the session built a message for it (the code
// render_head replaced): fields set in this order, then keep_alive and content_length.
std::string beast_head(const Response& response, bool keep_alive, unsigned version) {
  bhttp::response<bhttp::string_body> message{static_cast<bhttp::status>(response.status), version};
  message.set(bhttp::field::server, "jobd");
  message.set(bhttp::field::date, http_date());
  message.set(bhttp::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) message.set(name, value);
  message.keep_alive(keep_alive);
  message.content_length(response.body_text().size());
  std::ostringstream out;
  out << message.base();
  return out.str();
}

void expect_same_head(const Response& response) {
  for (const unsigned version : {10u, 11u}) {
    for (const bool keep_alive : {true, false}) {
      std::string ours;
      std::string beasts;
      // The Date line may tick between the two: one retry settles it.
      for (int attempt = 0; attempt < 2; ++attempt) {
        render_head(ours, response, keep_alive, version);
        beasts = beast_head(response, keep_alive, version);
        if (ours == beasts) break;
      }
      EXPECT_EQ(ours, beasts) << "status " << response.status << ", HTTP/" << version / 10 << "."
                              << version % 10 << (keep_alive ? ", keep-alive" : ", close");
    }
  }
}

}  // namespace

TEST(ResponseHead, MatchesBeastForEveryStatusTheHandlersAnswer) {
  for (const unsigned status : {200u, 202u, 304u, 308u, 400u, 401u, 404u, 405u, 409u, 413u, 415u, 422u, 429u,
                                431u, 500u, 503u, 505u}) {
    Response response;
    response.status = status;
    response.body = R"({"status":"ok"})";
    expect_same_head(response);
  }
}

TEST(ResponseHead, MatchesBeastWithTheHandlersHeadersAndMediaTypes) {
  Response problem;
  problem.status = 429;
  problem.content_type = "application/problem+json";
  problem.body = R"({"type":"/problems/queue-full"})";
  problem.headers = {{"Retry-After", "1"}};
  expect_same_head(problem);

  Response submitted;
  submitted.status = 202;
  submitted.body = std::string(5000, 'x');
  submitted.headers = {{"Location", "/v1/jobs/0123456789abcdef0123456789abcdef"},
                       {"Idempotent-Replayed", "true"}};
  expect_same_head(submitted);

  Response unmodified;
  unmodified.status = 304;
  unmodified.content_type = "text/javascript; charset=utf-8";
  unmodified.headers = {{"ETag", "\"0123456789abcdef\""}, {"Cache-Control", "no-cache"}};
  expect_same_head(unmodified);

  Response empty;
  empty.status = 405;
  empty.content_type = "text/plain; version=0.0.4; charset=utf-8";
  empty.headers = {{"Allow", "GET, HEAD"}};
  expect_same_head(empty);
}

TEST(ResponseHead, AFixedBodyIsTheOneSentAndCounted) {
  static constexpr std::string_view kFixed = R"({"status":"ok","store":{"ok":true}})";
  Response fixed;
  fixed.fixed_body = kFixed;
  fixed.body = "left over";  // a fixed body wins over this
  EXPECT_EQ(fixed.body_text(), kFixed);
  std::string head;
  render_head(head, fixed, true, 11);
  EXPECT_NE(head.find("Content-Length: " + std::to_string(kFixed.size()) + "\r\n"), std::string::npos)
      << head;
  expect_same_head(fixed);
}

TEST(ResponseHead, ReusesTheCallersBufferWithoutLeftovers) {
  std::string out;
  Response big;
  big.headers = {{"X-Long", std::string(300, 'a')}};
  render_head(out, big, true, 11);
  const auto capacity = out.capacity();
  Response small;
  render_head(out, small, true, 11);
  EXPECT_EQ(out.capacity(), capacity);
  EXPECT_EQ(out.find("X-Long"), std::string::npos);
  EXPECT_TRUE(out.ends_with("Content-Length: 0\r\n\r\n"));
}
