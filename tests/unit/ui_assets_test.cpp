#include "api/ui_assets.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

using jobd::api::embedded_assets;
using jobd::api::kUiContentSecurityPolicy;
using jobd::api::ui_asset_response;

namespace {

std::string header(const jobd::http::Response& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

std::string source_file(const std::string& relative) {
  std::ifstream in(std::string(JOBD_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST(UiAssets, ThePageIsServedAtUiAsHtmlAndUiSlashIsRedirectedThere) {
  auto redirect = ui_asset_response("/ui/", "");
  ASSERT_TRUE(redirect);
  EXPECT_EQ(redirect->status, 308u);
  EXPECT_EQ(header(*redirect, "Location"), "/ui");
  EXPECT_TRUE(redirect->body_text().empty());
  for (const char* path : {"/ui", "/ui/index.html"}) {
    auto response = ui_asset_response(path, "");
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->status, 200u);
    EXPECT_EQ(response->content_type, "text/html; charset=utf-8");
    EXPECT_EQ(response->body_text(), source_file("server/api/ui/index.html"));
  }
}

TEST(UiAssets, EveryFileIsTheBuildsCopyWithItsContentType) {
  EXPECT_EQ(ui_asset_response("/openapi.yaml", "")->body_text(), source_file("proto/openapi.yaml"));
  EXPECT_EQ(ui_asset_response("/openapi.yaml", "")->content_type, "application/yaml");
  EXPECT_EQ(ui_asset_response("/ui/app.js", "")->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(ui_asset_response("/ui/style.css", "")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(ui_asset_response("/ui/icon.svg", "")->content_type, "image/svg+xml");
  EXPECT_EQ(ui_asset_response("/ui/vendor/uPlot.LICENSE", "")->content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(ui_asset_response("/ui/vendor/uPlot.iife.min.js", "")->body_text(),
            source_file("server/api/ui/vendor/uPlot.iife.min.js"));
  for (const auto& asset : embedded_assets()) {
    EXPECT_TRUE(asset.path.starts_with("/ui/") || asset.path == "/openapi.yaml") << asset.path;
    EXPECT_FALSE(asset.body.empty()) << asset.path;
  }
}

TEST(UiAssets, EveryAnswerCarriesTheSecurityAndCacheHeaders) {
  auto response = ui_asset_response("/ui/app.js", "");
  ASSERT_TRUE(response);
  EXPECT_EQ(header(*response, "Content-Security-Policy"), kUiContentSecurityPolicy);
  EXPECT_NE(kUiContentSecurityPolicy.find("script-src 'self';"), std::string_view::npos);
  EXPECT_EQ(kUiContentSecurityPolicy.find("unsafe"), std::string_view::npos);
  EXPECT_EQ(header(*response, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(header(*response, "Cache-Control"), "no-cache");
  const std::string etag = header(*response, "ETag");
  EXPECT_EQ(etag.size(), 18u) << etag;  // "16 hex digits"
  EXPECT_EQ(etag.front(), '"');
  EXPECT_NE(etag, header(*ui_asset_response("/ui/style.css", ""), "ETag")) << "tags come from the content";
}

TEST(UiAssets, AMatchingIfNoneMatchIsA304WithoutABody) {
  const std::string etag = header(*ui_asset_response("/ui/dom.js", ""), "ETag");
  for (const std::string& sent : {etag, "W/" + etag, "\"other\", " + etag, std::string("*")}) {
    auto response = ui_asset_response("/ui/dom.js", sent);
    EXPECT_EQ(response->status, 304u) << sent;
    EXPECT_TRUE(response->body.empty());
    EXPECT_EQ(header(*response, "ETag"), etag);
  }
  EXPECT_EQ(ui_asset_response("/ui/dom.js", "\"0000000000000000\"")->status, 200u);
}

TEST(UiAssets, OnlyCompiledInFilesExist) {
  for (const char* path : {"/ui/nope.js", "/ui/../proto/openapi.yaml", "/ui//app.js", "/ui/views",
                           "/ui/.hidden", "/openapi.json", "/ui/app.js/"}) {
    EXPECT_FALSE(ui_asset_response(path, "")) << path;
  }
}
