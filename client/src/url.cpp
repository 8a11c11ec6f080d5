#include "jobd/client/url.hpp"

namespace jobd::client {

namespace {
constexpr std::string_view kScheme = "http://";
constexpr std::string_view kDefaultPort = "80";

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}
}  // namespace

std::optional<Endpoint> parse_url(std::string_view url, std::string& error) {
  if (url.starts_with("https://")) {
    error = "https is not supported: jobd serves plain HTTP (put a TLS proxy in front of it)";
    return std::nullopt;
  }
  if (!url.starts_with(kScheme)) {
    error = "URL must start with http:// (got '" + std::string(url) + "')";
    return std::nullopt;
  }
  std::string_view rest = url.substr(kScheme.size());
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (path.find_first_of("?#") != std::string_view::npos) {
    error = "URL must not carry a query or fragment";
    return std::nullopt;
  }
  if (authority.find('@') != std::string_view::npos) {
    error = "URL must not carry credentials: use --token / JOBD_TOKEN";
    return std::nullopt;
  }
  Endpoint endpoint;
  endpoint.host_header = std::string(authority);
  std::string_view port;
  if (authority.starts_with('[')) {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unclosed '[' in URL host";
      return std::nullopt;
    }
    endpoint.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "unexpected text after ']' in URL host";
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    endpoint.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (endpoint.host.empty()) {
    error = "URL has no host";
    return std::nullopt;
  }
  if (port.empty()) port = kDefaultPort;
  if (!all_digits(port) || port.size() > 5 || std::stoul(std::string(port)) > 65535) {
    error = "URL port must be a number from 0 to 65535";
    return std::nullopt;
  }
  endpoint.port = std::string(port);
  while (path.ends_with('/')) path.remove_suffix(1);
  endpoint.base_path = std::string(path);
  return endpoint;
}

std::string encode_query_value(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xF]);
    }
  }
  return out;
}

}  // namespace jobd::client
