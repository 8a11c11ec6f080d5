// The dashboard (`/ui`) and the API contract (`/openapi.yaml`), served from files compiled into
// jobd: the files of server/api/ui/ and proto/openapi.yaml become a generated source at build
// time (server/api/embed_assets.cmake), so the page needs no file system, no CDN and no network
// beyond jobd itself, and is always the one this binary was built with.
//
// A pure function from a path to a response: no I/O, no state, never anything outside the
// compiled-in set (there is no path to resolve, so no traversal). Every answer carries a strict
// Content-Security-Policy (no inline script or style, nothing from another origin) and an ETag
// from the content's hash, so a browser revalidates each file and gets 304 until it changes.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "http/message.hpp"

namespace jobd::api {

// One compiled-in file, in static storage. Generated: ui_assets_data.cpp (build directory).
struct EmbeddedAsset {
  std::string_view path;          // the URL path it is served at: "/ui/app.js", "/openapi.yaml"
  std::string_view content_type;  // from the file name's extension
  std::string_view etag;          // a strong validator, quoted: the first 16 hex digits of SHA-256
  std::string_view body;
};
std::span<const EmbeddedAsset> embedded_assets();

// The page loads its own scripts, styles and the API, nothing else: no inline code (so an
// injected string cannot run), no other origin, no framing (clickjacking), no plugins. Charts
// draw on canvas; `data:` images only for the icons that browsers synthesise.
inline constexpr std::string_view kUiContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// The answer to GET or HEAD of `path`: "/ui" (the page; "/ui/" is redirected there with 308),
// "/ui/<file>" or "/openapi.yaml". `if_none_match` is the request's If-None-Match header (empty
// when absent): a match is answered 304 without a body. nullopt when no compiled-in file has
// this path (the caller answers 404).
std::optional<http::Response> ui_asset_response(std::string_view path, std::string_view if_none_match);

}  // namespace jobd::api
