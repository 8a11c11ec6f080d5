#include "jobd/client/url.hpp"

#include <gtest/gtest.h>

using jobd::client::encode_query_value;
using jobd::client::parse_url;

TEST(ParseUrl, TakesHostPortAndBasePath) {
  std::string error;
  auto endpoint = parse_url("http://127.0.0.1:8080", error);
  ASSERT_TRUE(endpoint) << error;
  EXPECT_EQ(endpoint->host, "127.0.0.1");
  EXPECT_EQ(endpoint->port, "8080");
  EXPECT_EQ(endpoint->base_path, "");
  EXPECT_EQ(endpoint->host_header, "127.0.0.1:8080");

  endpoint = parse_url("http://jobs.example/api/", error);
  ASSERT_TRUE(endpoint) << error;
  EXPECT_EQ(endpoint->port, "80");
  EXPECT_EQ(endpoint->base_path, "/api");
}

TEST(ParseUrl, TakesBracketedIpv6) {
  std::string error;
  auto endpoint = parse_url("http://[::1]:9000", error);
  ASSERT_TRUE(endpoint) << error;
  EXPECT_EQ(endpoint->host, "::1");
  EXPECT_EQ(endpoint->port, "9000");
  EXPECT_EQ(endpoint->host_header, "[::1]:9000");
}

TEST(ParseUrl, RefusesWhatItCannotServe) {
  std::string error;
  for (const char* bad : {"https://x", "127.0.0.1:8080", "http://", "http://x:99999", "http://x:8o",
                          "http://u:p@x", "http://x/?a=1", "http://[::1"}) {
    EXPECT_FALSE(parse_url(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(EncodeQueryValue, KeepsUnreservedAndEscapesTheRest) {
  EXPECT_EQ(encode_query_value("abc-._~09"), "abc-._~09");
  EXPECT_EQ(encode_query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
}
