// The dashboard's files and the OpenAPI document as a real jobd serves them (the page itself is
// tested in a browser: tests/browser/ui_test.py). These answers also feed the contract test.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "harness.hpp"

using namespace jobd::testing;

namespace {
std::string source_file(const std::string& relative) {
  std::ifstream in(std::string(JOBD_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}
}  // namespace

TEST(Ui, ThePageAndItsFilesComeWithAStrictPolicyAndNoSniffing) {
  JobdProcess server;
  for (const char* path : {"/ui", "/ui/app.js", "/ui/style.css", "/ui/vendor/uPlot.iife.min.js"}) {
    auto page = get(server.port(), path);
    EXPECT_EQ(page.status, 200) << path;
    const std::string csp = page.header("content-security-policy");
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos) << path;
    EXPECT_NE(csp.find("script-src 'self';"), std::string::npos) << path;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << path;
    EXPECT_EQ(page.header("x-content-type-options"), "nosniff") << path;
    EXPECT_EQ(page.header("cache-control"), "no-cache") << path;
    EXPECT_FALSE(page.header("etag").empty()) << path;
  }
  EXPECT_EQ(get(server.port(), "/ui").header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(get(server.port(), "/ui/app.js").header("content-type"), "text/javascript; charset=utf-8");
}

TEST(Ui, TheAddressWithATrailingSlashIsRedirectedToThePage) {
  JobdProcess server;
  auto redirect = get(server.port(), "/ui/");
  EXPECT_EQ(redirect.status, 308);
  EXPECT_EQ(redirect.header("location"), "/ui");
}

TEST(Ui, AnUnchangedFileIsRevalidatedWith304) {
  JobdProcess server;
  auto first = get(server.port(), "/ui/live.js");
  ASSERT_EQ(first.status, 200);
  auto again =
      http_request(server.port(), "GET", "/ui/live.js", "", {{"If-None-Match", first.header("etag")}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(again.header("etag"), first.header("etag"));
  auto changed =
      http_request(server.port(), "GET", "/ui/live.js", "", {{"If-None-Match", R"("0123456789abcdef")"}});
  EXPECT_EQ(changed.status, 200);
  EXPECT_EQ(changed.body, first.body);
}

TEST(Ui, TheOpenApiDocumentIsTheSpecFileCompiledIn) {
  JobdProcess server;
  auto spec = get(server.port(), "/openapi.yaml");
  EXPECT_EQ(spec.status, 200);
  EXPECT_EQ(spec.header("content-type"), "application/yaml");
  EXPECT_EQ(spec.body, source_file("proto/openapi.yaml"));
}

TEST(Ui, UnknownFilesAre404AndOtherMethods405) {
  JobdProcess server;
  auto missing = get(server.port(), "/ui/no-such-file.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json()["type"], "/problems/not-found");
  EXPECT_EQ(get(server.port(), "/ui/../v1/kinds").status, 404);
  auto post = http_request(server.port(), "POST", "/ui", "{}", {{"Content-Type", "application/json"}});
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("allow"), "GET, HEAD");
}

TEST(Ui, ThePageAndTheSpecNeedNoTokenWhileTheApiDoes) {
  const std::string tokens = "/tmp/jobd-ui-test-tokens-" + std::to_string(::getpid());
  std::ofstream(tokens) << "ui-test-token-0123456789abcdef\n";
  JobdProcess server({"--token-file", tokens});
  EXPECT_EQ(get(server.port(), "/ui").status, 200);
  EXPECT_EQ(get(server.port(), "/ui/api.js").status, 200);
  EXPECT_EQ(get(server.port(), "/openapi.yaml").status, 200);
  EXPECT_EQ(get(server.port(), "/v1/kinds").status, 401);
  EXPECT_EQ(get(server.port(), "/metrics").status, 401);
  std::remove(tokens.c_str());
}
