#include "api/ui_assets.hpp"

#include <string>

namespace jobd::api {

namespace {

constexpr std::string_view kIndexPath = "/ui/index.html";

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// If-None-Match (RFC 9110 §13.1.2): "*" or a comma-separated list of entity tags, compared
// weakly (a W/ prefix is ignored). Our tags are hex digits in quotes, so a comma never
// appears inside one.
bool matches_any(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const auto comma = if_none_match.find(',');
    std::string_view tag = trim(if_none_match.substr(0, comma));
    if_none_match = comma == std::string_view::npos ? std::string_view{} : if_none_match.substr(comma + 1);
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
  }
  return false;
}

const EmbeddedAsset* find_asset(std::string_view path) {
  if (path == "/ui") path = kIndexPath;
  for (const EmbeddedAsset& asset : embedded_assets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace

std::optional<http::Response> ui_asset_response(std::string_view path, std::string_view if_none_match) {
  if (path == "/ui/") {
    // The page has one address, so that its absolute links (/ui/app.js) and a bookmark agree;
    // the trailing-slash form people type is sent there.
    http::Response redirect;
    redirect.status = 308;
    redirect.headers = {{"Location", "/ui"}, {"X-Content-Type-Options", "nosniff"}};
    return redirect;
  }
  const EmbeddedAsset* asset = find_asset(path);
  if (asset == nullptr) return std::nullopt;
  http::Response response;
  response.content_type = asset->content_type;
  const bool unchanged = !if_none_match.empty() && matches_any(if_none_match, asset->etag);
  response.status = unchanged ? 304 : 200;
  if (!unchanged) response.fixed_body = asset->body;  // embedded in the binary
  response.headers = {
      {"ETag", std::string(asset->etag)},
      // Cached, but revalidated on every use: a new jobd binary shows its own page at once,
      // and an unchanged file costs a 304 without a body.
      {"Cache-Control", "no-cache"},
      {"Content-Security-Policy", std::string(kUiContentSecurityPolicy)},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
  };
  return response;
}

}  // namespace jobd::api
