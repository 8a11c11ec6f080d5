#include <gtest/gtest.h>

#include "http/router.hpp"

using namespace jobd::http;

TEST(Router, MatchesEveryRouteOfTheApi) {
  EXPECT_EQ(match_route(Method::get, "/healthz").route, Route::healthz);
  EXPECT_EQ(match_route(Method::get, "/readyz").route, Route::readyz);
  EXPECT_EQ(match_route(Method::get, "/metrics").route, Route::metrics);
  EXPECT_EQ(match_route(Method::get, "/v1/kinds").route, Route::kinds);
  EXPECT_EQ(match_route(Method::post, "/v1/jobs").route, Route::jobs_submit);
  EXPECT_EQ(match_route(Method::get, "/v1/jobs").route, Route::jobs_list);
  EXPECT_EQ(match_route(Method::get, "/v1/events").route, Route::events);
  auto get = match_route(Method::get, "/v1/jobs/abc123");
  EXPECT_EQ(get.route, Route::job_get);
  EXPECT_EQ(get.job_id, "abc123");
  EXPECT_EQ(get.name, "/v1/jobs/{id}");
  auto cancel = match_route(Method::delete_, "/v1/jobs/abc123");
  EXPECT_EQ(cancel.route, Route::job_cancel);
  EXPECT_EQ(cancel.job_id, "abc123");
  auto events = match_route(Method::get, "/v1/jobs/xyz/events");
  EXPECT_EQ(events.route, Route::job_events);
  EXPECT_EQ(events.job_id, "xyz");
}

TEST(Router, HeadIsServedWhereverGetIs) {
  EXPECT_EQ(match_route(Method::head, "/healthz").route, Route::healthz);
  EXPECT_EQ(match_route(Method::head, "/v1/jobs/a").route, Route::job_get);
}

TEST(Router, WrongMethodOnAKnownPathIs405WithTheAllowList) {
  auto jobs = match_route(Method::put, "/v1/jobs");
  EXPECT_EQ(jobs.route, Route::method_not_allowed);
  EXPECT_EQ(jobs.allowed, "GET, HEAD, POST");
  auto job = match_route(Method::post, "/v1/jobs/abc");
  EXPECT_EQ(job.route, Route::method_not_allowed);
  EXPECT_EQ(job.allowed, "GET, HEAD, DELETE");
  EXPECT_EQ(match_route(Method::post, "/healthz").allowed, "GET, HEAD");
}

TEST(Router, UnknownPathsAre404) {
  for (const char* path :
       {"/", "/v1", "/v1/jobs/", "/v1/jobs/a/b", "/v1/jobs/a/events/x", "/healthzz", "/V1/jobs"}) {
    EXPECT_EQ(match_route(Method::get, path).route, Route::not_found) << path;
  }
}

TEST(QueryParam, FindsDecodesAndReportsAbsence) {
  EXPECT_EQ(query_param("wait=5&state=running", "state"), "running");
  EXPECT_EQ(query_param("kind=a%20b+c", "kind"), "a b c");
  EXPECT_EQ(query_param("flag&x=1", "flag"), "");
  EXPECT_FALSE(query_param("waiting=5", "wait").has_value());
  EXPECT_FALSE(query_param("", "wait").has_value());
  EXPECT_EQ(query_param("wait=%zz", "wait"), "%zz");  // malformed escape passed on undecoded
}

TEST(Router, TheDashboardAndTheContractAreOneRouteOfGetAndHead) {
  EXPECT_EQ(match_route(Method::get, "/ui").route, Route::ui_asset);
  EXPECT_EQ(match_route(Method::get, "/ui").name, "/ui");
  EXPECT_EQ(match_route(Method::get, "/ui/").name, "/ui");
  EXPECT_EQ(match_route(Method::head, "/ui/app.js").route, Route::ui_asset);
  EXPECT_EQ(match_route(Method::get, "/ui/vendor/uPlot.iife.min.js").name, "/ui/{asset}");
  EXPECT_EQ(match_route(Method::get, "/openapi.yaml").name, "/openapi.yaml");
  EXPECT_EQ(match_route(Method::post, "/ui").allowed, "GET, HEAD");
  EXPECT_EQ(match_route(Method::delete_, "/openapi.yaml").route, Route::method_not_allowed);
  EXPECT_EQ(match_route(Method::get, "/uix").route, Route::not_found);
}
