// The session's refusal rules (http/refusals.hpp), one test per rule, on ParseStates built by
// hand; and a few through Beast's real parser, to pin down that the errors the rules map are
// the ones Beast reports for those requests. No socket.
#include <gtest/gtest.h>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/refusals.hpp"

using namespace jobd::http;
namespace bhttp = boost::beast::http;

namespace {

ServerLimits limits() {
  ServerLimits limits;
  limits.max_body = 1000;
  limits.max_header = 500;
  return limits;
}

// A request whose header parsed: HTTP/1.1, no Transfer-Encoding.
ParseState parsed_header() {
  ParseState state;
  state.header_done = true;
  state.version = 11;
  return state;
}

ParseState failed_with(boost::system::error_code error, bool header_done = false) {
  ParseState state = header_done ? parsed_header() : ParseState{};
  state.error = error;
  return state;
}

// The refusal's status, or 0 when the request may proceed.
unsigned status_of(const ParseState& state) {
  auto problem = refusal(state, limits());
  return problem ? problem->kind.status : 0;
}

// What the session would find after feeding `bytes` to Beast's parser with limits().
ParseState parse(std::string_view bytes) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits().max_header));
  parser.body_limit(limits().max_body);
  ParseState state;
  state.opening = bytes;
  boost::system::error_code error;
  while (!bytes.empty() && !parser.is_done()) {
    const auto used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), error);
    bytes.remove_prefix(used);
    if (error == bhttp::error::need_more) error = {};
    if (error || used == 0) break;
  }
  state.error = error;
  if (parser.is_header_done()) {
    state.header_done = true;
    state.version = parser.get().version();
    state.transfer_encoding = parser.get().count(bhttp::field::transfer_encoding) > 0;
    state.chunked = parser.chunked();
  }
  return state;
}

}  // namespace

TEST(Refusals, WellFormedRequestProceeds) {
  EXPECT_EQ(refusal(ParseState{}, limits()), std::nullopt);
  EXPECT_EQ(refusal(parsed_header(), limits()), std::nullopt);
  ParseState chunked = parsed_header();
  chunked.transfer_encoding = true;
  chunked.chunked = true;
  EXPECT_EQ(refusal(chunked, limits()), std::nullopt);
}

TEST(Refusals, Http2PrefaceIs505) {
  ParseState state;
  state.opening = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  auto problem = refusal(state, limits());
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->kind.status, 505u);
  EXPECT_EQ(problem->kind.type, "/problems/http-version");
  EXPECT_EQ(problem->detail, "HTTP/2 is not served; use HTTP/1.1");
  state.opening = "PRI * HTTP";  // not yet the whole preface: the parser decides later
  EXPECT_EQ(status_of(state), 0u);
}

TEST(Refusals, BodyOverTheLimitIs413NamingTheFlag) {
  auto problem = refusal(failed_with(bhttp::error::body_limit, true), limits());
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->kind.status, 413u);
  EXPECT_EQ(problem->detail, "body exceeds 1000 bytes (--max-body)");
}

TEST(Refusals, HeaderOverTheLimitIs431NamingTheFlag) {
  auto problem = refusal(failed_with(bhttp::error::header_limit), limits());
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->kind.status, 431u);
  EXPECT_EQ(problem->detail, "request headers exceed 500 bytes (--max-header)");
}

TEST(Refusals, VersionTheParserCannotReadIs505) {
  EXPECT_EQ(status_of(failed_with(bhttp::error::bad_version)), 505u);
}

TEST(Refusals, AnyOtherParserErrorIs400WithTheParsersMessage) {
  for (bhttp::error error :
       {bhttp::error::bad_method, bhttp::error::bad_target, bhttp::error::bad_field,
        bhttp::error::bad_content_length, bhttp::error::bad_chunk, bhttp::error::partial_message}) {
    auto problem = refusal(failed_with(error), limits());
    ASSERT_TRUE(problem);
    EXPECT_EQ(problem->kind.type, "/problems/bad-request");
    EXPECT_EQ(problem->detail, boost::system::error_code(error).message());
  }
}

TEST(Refusals, VersionOtherThanOneZeroOrOneOneIs505) {
  for (unsigned version : {9u, 12u, 19u, 20u, 30u}) {
    ParseState state = parsed_header();
    state.version = version;
    EXPECT_EQ(status_of(state), 505u) << version;
  }
  ParseState one_zero = parsed_header();
  one_zero.version = 10;
  EXPECT_EQ(status_of(one_zero), 0u);
}

TEST(Refusals, TransferEncodingNotEndingInChunkedIs400) {
  ParseState state = parsed_header();
  state.transfer_encoding = true;
  state.chunked = false;
  auto problem = refusal(state, limits());
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->kind.status, 400u);
  EXPECT_EQ(problem->detail, "Transfer-Encoding must end with chunked");
}

TEST(Refusals, ClientThatLeftOrTimedOutGetsNoAnswer) {
  for (boost::system::error_code error : {boost::system::error_code(boost::beast::error::timeout),
                                          boost::system::error_code(boost::asio::error::eof),
                                          boost::system::error_code(bhttp::error::end_of_stream),
                                          boost::system::error_code(boost::asio::error::operation_aborted),
                                          boost::system::error_code(boost::asio::error::connection_reset)}) {
    EXPECT_TRUE(client_gone(failed_with(error))) << error.message();
    EXPECT_TRUE(client_gone(failed_with(error, true))) << error.message();
  }
  EXPECT_FALSE(client_gone(ParseState{}));
  EXPECT_FALSE(client_gone(failed_with(bhttp::error::body_limit)));
  EXPECT_FALSE(client_gone(failed_with(bhttp::error::bad_version)));
}

TEST(Refusals, EndOfInputInsideTheHeaderIsRefusedButInsideTheBodyIsLeaving) {
  EXPECT_FALSE(client_gone(failed_with(bhttp::error::partial_message, /*header_done=*/false)));
  EXPECT_EQ(status_of(failed_with(bhttp::error::partial_message, false)), 400u);
  EXPECT_TRUE(client_gone(failed_with(bhttp::error::partial_message, /*header_done=*/true)));
}

TEST(RefusalsWithBeast, AnnouncedOversizeBodyIsRefusedAtTheHeader) {
  const auto state = parse("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
  EXPECT_EQ(state.error, bhttp::error::body_limit);
  EXPECT_EQ(status_of(state), 413u);
}

TEST(RefusalsWithBeast, OversizeHeaderIs431) {
  const std::string big = "GET / HTTP/1.1\r\nX-Big: " + std::string(600, 'a') + "\r\n\r\n";
  EXPECT_EQ(status_of(parse(big)), 431u);
}

TEST(RefusalsWithBeast, HttpTwoPriorKnowledgeAndOtherVersionsAre505) {
  EXPECT_EQ(status_of(parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")), 505u);
  EXPECT_EQ(status_of(parse("GET / HTTP/1.2\r\nHost: x\r\n\r\n")), 505u);
  EXPECT_EQ(status_of(parse("GET / HTTP/3.0\r\nHost: x\r\n\r\n")), 505u);
  EXPECT_EQ(status_of(parse("GET / HTTP/1.0\r\n\r\n")), 0u);
}

TEST(RefusalsWithBeast, GzipOnlyTransferEncodingIs400AndChunkedProceeds) {
  EXPECT_EQ(status_of(parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nxx")), 400u);
  EXPECT_EQ(
      status_of(parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")),
      0u);
}
