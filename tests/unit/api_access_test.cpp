// What the Api answers before any handler runs: 404 and 405 + Allow from the route table, and
// 401 + WWW-Authenticate when bearer tokens are configured. Also which answers are given at
// once (no coroutine frame) and the probes. No socket.
#include <gtest/gtest.h>

#include "api_fixture.hpp"

using namespace jobd::testing;
using jobd::api::ApiOptions;
using jobd::api::TokenSet;
using jobd::http::Method;

namespace {
ApiOptions with_token(bool metrics_public = false) {
  ApiOptions options;
  options.tokens = TokenSet::from_tokens({kToken});
  options.metrics_public = metrics_public;
  return options;
}
const std::string kBearer = std::string("Bearer ") + kToken;
}  // namespace

TEST(ApiAccess, UnknownPathIs404NamedUnmatched) {
  ApiHarness h;
  const auto response = h.get("/v2/jobs");
  EXPECT_EQ(response.status, 404u);
  EXPECT_EQ(problem_type(response), "/problems/not-found");
  EXPECT_EQ(h.route, "unmatched");
}

TEST(ApiAccess, WrongMethodIs405WithTheAllowHeader) {
  ApiHarness h;
  const auto response = h.call({.method = Method::put, .target = "/v1/jobs"});
  EXPECT_EQ(response.status, 405u);
  EXPECT_EQ(problem_type(response), "/problems/method-not-allowed");
  EXPECT_EQ(header_of(response, "Allow"), "GET, HEAD, POST");
  EXPECT_EQ(h.route, "/v1/jobs");
  EXPECT_EQ(header_of(h.call({.method = Method::patch, .target = "/v1/jobs/x"}), "Allow"),
            "GET, HEAD, DELETE");
}

TEST(ApiAccess, EveryRouteButSubmitGetJobAndCancelAnswersAtOnce) {
  ApiHarness h;
  const std::string id = h.submit_work();
  EXPECT_TRUE(h.awaited);
  for (const char* target : {"/healthz", "/readyz", "/v1/kinds", "/v1/jobs", "/nowhere"}) {
    h.get(target);
    EXPECT_FALSE(h.awaited) << target;
  }
  h.get("/v1/jobs/" + id);
  EXPECT_TRUE(h.awaited);
  // A coroutine (it may wait for the commit of the final state), answering at once here.
  h.call({.method = Method::delete_, .target = "/v1/jobs/" + id});
  EXPECT_TRUE(h.awaited);
}

TEST(ApiAccess, WithTokensARequestWithoutOneIs401WithWwwAuthenticate) {
  ApiHarness h(with_token());
  for (auto [method, target] :
       std::initializer_list<std::pair<Method, const char*>>{{Method::get, "/v1/jobs"},
                                                             {Method::post, "/v1/jobs"},
                                                             {Method::get, "/v1/jobs/x"},
                                                             {Method::delete_, "/v1/jobs/x"},
                                                             {Method::get, "/v1/kinds"},
                                                             {Method::get, "/v1/events"},
                                                             {Method::get, "/metrics"}}) {
    const auto response = h.call({.method = method, .target = target});
    EXPECT_EQ(response.status, 401u) << target;
    EXPECT_EQ(problem_type(response), "/problems/unauthorized") << target;
    EXPECT_EQ(header_of(response, "WWW-Authenticate"), R"(Bearer realm="jobd")") << target;
    EXPECT_FALSE(h.awaited) << target;  // refused before any coroutine is made
  }
  EXPECT_EQ(h.table.counts().total, 0u);
}

TEST(ApiAccess, WithTokensAWrongTokenIs401AndTheRightOneIsServed) {
  ApiHarness h(with_token());
  const auto wrong = h.call({.target = "/v1/jobs", .authorization = "Bearer not-the-token-0123456789"});
  EXPECT_EQ(wrong.status, 401u);
  EXPECT_EQ(body_of(wrong)["detail"], "the token is not valid");
  EXPECT_EQ(h.call({.target = "/v1/jobs", .authorization = kBearer}).status, 200u);
  const auto submitted = h.call({.method = Method::post,
                                 .target = "/v1/jobs",
                                 .body = R"({"kind":"work","params":{"n":1}})",
                                 .authorization = kBearer});
  EXPECT_EQ(submitted.status, 202u);
}

TEST(ApiAccess, WithTokensProbesAnd404And405StayOpen) {
  ApiHarness h(with_token());
  EXPECT_EQ(h.get("/healthz").status, 200u);
  EXPECT_EQ(h.get("/readyz").status, 200u);
  EXPECT_EQ(h.get("/nowhere").status, 404u);
  EXPECT_EQ(h.call({.method = Method::put, .target = "/v1/jobs"}).status, 405u);
}

TEST(ApiAccess, MetricsNeedATokenUnlessPublic) {
  ApiHarness closed(with_token(false));
  closed.api.serve_metrics([] { return std::string("jobd_up 1\n"); });
  EXPECT_EQ(closed.get("/metrics").status, 401u);
  ApiHarness open(with_token(true));
  open.api.serve_metrics([] { return std::string("jobd_up 1\n"); });
  const auto response = open.get("/metrics");
  EXPECT_EQ(response.status, 200u);
  EXPECT_EQ(response.body, "jobd_up 1\n");
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
}

TEST(ApiAccess, MetricsWithoutARendererIs404) {
  ApiHarness h;
  EXPECT_EQ(h.get("/metrics").status, 404u);
}

TEST(ApiAccess, ProbesAndCatalogAnswer) {
  ApiHarness h;
  EXPECT_EQ(h.get("/healthz").body_text(),
            R"({"status":"ok","store":{"uri":"memory:","durability":"process","ok":true}})");
  EXPECT_EQ(h.get("/readyz").body_text(), R"({"status":"ready"})");
  const auto kinds = body_of(h.get("/v1/kinds"));
  ASSERT_EQ(kinds["kinds"].size(), 2u);
  EXPECT_EQ(kinds["kinds"][0]["name"], "work");
}

TEST(ApiAccess, EventStreamsAnswerWithAStreamedBody) {
  ApiHarness h;
  const std::string id = h.submit_work();
  const auto job = h.get("/v1/jobs/" + id + "/events");
  EXPECT_EQ(job.status, 200u);
  EXPECT_EQ(job.content_type, "text/event-stream");
  EXPECT_NE(job.stream, nullptr);
  EXPECT_EQ(h.get("/v1/jobs/nope/events").status, 404u);
  EXPECT_EQ(problem_type(h.get("/v1/jobs/" + id + "/events?last_event_id=x")), "/problems/invalid-query");
  EXPECT_NE(h.get("/v1/events?state=running").stream, nullptr);
  EXPECT_EQ(problem_type(h.get("/v1/events?state=sleeping")), "/problems/invalid-query");
}
