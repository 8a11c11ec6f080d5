// Where jobd is: the parsed form of --url / JOBD_URL, and the query-string encoding the client
// uses. Pure code (no sockets), so it is unit-tested byte by byte.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace jobd::client {

inline constexpr std::string_view kDefaultUrl = "http://127.0.0.1:8080";

struct Endpoint {
  std::string host;         // a name or an IPv4/IPv6 literal (without brackets)
  std::string port;         // "8080"; a string because that is what the resolver takes
  std::string base_path;    // "" or "/prefix" (no trailing slash) when jobd sits behind a proxy
  std::string host_header;  // value of the Host header: host[:port] as the user wrote it
};

// Parses "http://host[:port][/prefix]". Only plain http: jobd itself serves no TLS (a proxy in
// front of it does). Returns nullopt and sets `error` to a one-line reason otherwise.
std::optional<Endpoint> parse_url(std::string_view url, std::string& error);

// Percent-encodes a query-string value (RFC 3986 unreserved characters stay as they are).
std::string encode_query_value(std::string_view value);

}  // namespace jobd::client
