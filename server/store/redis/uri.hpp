// RedisEndpoint: where a Redis server is, parsed from the store URI. Two forms:
//
//   redis://[USER@]HOST[:PORT][/DB]     TCP; HOST a name, an IPv4 address or [IPv6]; PORT 6379
//                                       by default; DB 0 by default
//   redis+unix:///PATH[?db=DB]          a unix socket at the absolute PATH
//
// A password never travels in the URI (URIs end up in logs, `ps` and shell history): it comes
// from JOBD_REDIS_PASSWORD or the file named by JOBD_REDIS_PASSWORD_FILE (options.hpp). A URI
// carrying one (`redis://:secret@host`) is refused, and the refusal does not repeat the URI.
//
// Must never: resolve names or touch the network (pure; the session resolves asynchronously).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace jobd::store::redis {

struct RedisEndpoint {
  enum class Transport { tcp, unix_socket };
  Transport transport = Transport::tcp;
  std::string host = "127.0.0.1";  // tcp: a name or an address (IPv6 without brackets)
  std::uint16_t port = 6379;       // tcp
  std::string path;                // unix_socket
  std::string username;            // ACL user for AUTH (empty: the default user)
  int db = 0;                      // SELECTed after each connect

  // The endpoint as a URI again (it holds nothing secret), for logs and metrics.
  std::string display() const;
  bool operator==(const RedisEndpoint&) const = default;
};

inline constexpr std::uint16_t kDefaultRedisPort = 6379;

// The endpoint, or one line saying what is wrong with the URI (never quoting a password).
using ParsedEndpoint = std::variant<RedisEndpoint, std::string>;
ParsedEndpoint parse_redis_uri(std::string_view uri);

}  // namespace jobd::store::redis
