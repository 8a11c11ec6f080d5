#include "store/redis/uri.hpp"

#include <charconv>
#include <limits>

namespace jobd::store::redis {
namespace {

constexpr std::string_view kTcpScheme = "redis://";
constexpr std::string_view kUnixScheme = "redis+unix://";

// A decimal number in [0, max], the whole of `text`.
bool parse_number(std::string_view text, long max, long& out) {
  if (text.empty() || text.size() > 10) return false;
  long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > max) return false;
  out = value;
  return true;
}

bool parse_db(std::string_view text, RedisEndpoint& endpoint) {
  long db = 0;
  if (!parse_number(text, std::numeric_limits<int>::max(), db)) return false;
  endpoint.db = static_cast<int>(db);
  return true;
}

ParsedEndpoint parse_tcp(std::string_view rest) {
  RedisEndpoint endpoint;
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    if (userinfo.find(':') != std::string_view::npos) {
      return std::string(
          "the redis URI must not carry a password: give it in JOBD_REDIS_PASSWORD or in a file named by "
          "JOBD_REDIS_PASSWORD_FILE");
    }
    if (userinfo.empty()) return std::string("the redis URI has an empty user name before '@'");
    endpoint.username = std::string(userinfo);
    authority = authority.substr(at + 1);
  }
  std::string_view port;
  if (authority.starts_with('[')) {  // [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::string("the redis URI has an unclosed '[' in its host");
    endpoint.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return std::string("the redis URI has text after ']'");
    if (!after.empty()) port = after.substr(1);
    if (after == ":") return std::string("the redis URI has an empty port");
  } else {
    const std::size_t colon = authority.find(':');
    endpoint.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return std::string("the redis URI has an empty port");
    }
  }
  if (endpoint.host.empty()) return std::string("the redis URI has no host (redis://HOST[:PORT][/DB])");
  if (endpoint.host.find_first_of("?#/ ") != std::string::npos) {
    return std::string("the redis URI's host is not a host name or an address");
  }
  if (!port.empty()) {
    long value = 0;
    if (!parse_number(port, 65535, value) || value == 0) {
      return std::string("the redis URI's port is not a number from 1 to 65535");
    }
    endpoint.port = static_cast<std::uint16_t>(value);
  }
  if (!path.empty() && !parse_db(path, endpoint)) {
    return std::string(
        "the redis URI's database (after the host) is not a number (redis://HOST[:PORT][/DB])");
  }
  return endpoint;
}

ParsedEndpoint parse_unix(std::string_view rest) {
  RedisEndpoint endpoint;
  endpoint.transport = RedisEndpoint::Transport::unix_socket;
  if (!rest.starts_with('/')) {
    return std::string("a redis+unix URI names an absolute path and no host: redis+unix:///PATH[?db=N]");
  }
  const std::size_t query = rest.find('?');
  endpoint.path = std::string(rest.substr(0, query));
  if (endpoint.path.size() < 2 || endpoint.path.find('#') != std::string::npos) {
    return std::string("the redis+unix URI has no socket path: redis+unix:///PATH[?db=N]");
  }
  if (query != std::string_view::npos) {
    const std::string_view params = rest.substr(query + 1);
    if (!params.starts_with("db=") || !parse_db(params.substr(3), endpoint)) {
      return std::string("the redis+unix URI accepts one parameter, db=N (a number)");
    }
  }
  return endpoint;
}

}  // namespace

ParsedEndpoint parse_redis_uri(std::string_view uri) {
  if (uri.starts_with(kTcpScheme)) return parse_tcp(uri.substr(kTcpScheme.size()));
  if (uri.starts_with(kUnixScheme)) return parse_unix(uri.substr(kUnixScheme.size()));
  if (uri.starts_with("rediss://")) {
    return std::string(
        "rediss:// (TLS) is not supported: jobd's Redis client speaks plain TCP or a unix socket");
  }
  return std::string("a redis store is redis://HOST[:PORT][/DB] or redis+unix:///PATH[?db=N]");
}

std::string RedisEndpoint::display() const {
  // Built with append: GCC 12 reports a false -Wstringop-overflow on "[" + host + "]".
  std::string out = transport == Transport::unix_socket ? "redis+unix://" : "redis://";
  if (transport == Transport::unix_socket) {
    out.append(path);
    if (db != 0) out.append("?db=").append(std::to_string(db));
    return out;
  }
  if (!username.empty()) out.append(username).append("@");
  const bool ipv6 = host.find(':') != std::string::npos;
  if (ipv6) out.append("[");
  out.append(host);
  if (ipv6) out.append("]");
  out.append(":").append(std::to_string(port)).append("/").append(std::to_string(db));
  return out;
}

}  // namespace jobd::store::redis
