// The API's route table (api/routes.hpp, Api::routes()): every route matches, HEAD goes where
// GET goes, and 404 / 405 + Allow follow from the table.
#include <gtest/gtest.h>

#include "api/api.hpp"
#include "api/routes.hpp"

using namespace jobd::api;
using jobd::http::Method;

namespace {
RouteMatch match(Method method, std::string_view path) { return match_route(Api::routes(), method, path); }
bool answers_later(const RouteMatch& m) { return std::holds_alternative<AnswerLater>(m.route->answer); }
}  // namespace

TEST(Routes, MatchEveryRouteOfTheApiByItsTemplate) {
  for (auto [method, path, name] :
       std::initializer_list<std::tuple<Method, std::string_view, std::string_view>>{
           {Method::get, "/healthz", "/healthz"},
           {Method::get, "/readyz", "/readyz"},
           {Method::get, "/metrics", "/metrics"},
           {Method::get, "/v1/kinds", "/v1/kinds"},
           {Method::post, "/v1/jobs", "/v1/jobs"},
           {Method::get, "/v1/jobs", "/v1/jobs"},
           {Method::get, "/v1/events", "/v1/events"},
           {Method::get, "/v1/jobs/abc123", "/v1/jobs/{id}"},
           {Method::delete_, "/v1/jobs/abc123", "/v1/jobs/{id}"},
           {Method::get, "/v1/jobs/xyz/events", "/v1/jobs/{id}/events"},
           {Method::post, "/v1/store/backup", "/v1/store/backup"}}) {
    const RouteMatch m = match(method, path);
    ASSERT_NE(m.route, nullptr) << path;
    EXPECT_EQ(m.name, name) << path;
    EXPECT_TRUE(m.route->methods.admits(method)) << path;
  }
  EXPECT_EQ(match(Method::get, "/v1/jobs/abc123").id, "abc123");
  EXPECT_EQ(match(Method::delete_, "/v1/jobs/abc123").id, "abc123");
  EXPECT_EQ(match(Method::get, "/v1/jobs/xyz/events").id, "xyz");
}

TEST(Routes, GetAndDeleteOfOneJobAreDifferentRoutes) {
  EXPECT_NE(match(Method::get, "/v1/jobs/a").route, match(Method::delete_, "/v1/jobs/a").route);
  EXPECT_NE(match(Method::get, "/v1/jobs").route, match(Method::post, "/v1/jobs").route);
}

// Cancel may wait too: for the commit of the final state of a job it stopped at once; a store
// backup waits for the copy.
TEST(Routes, OnlySubmitGetJobCancelAndBackupAwaitTheRestAnswerAtOnce) {
  for (const Route& route : Api::routes()) {
    const bool waits = (route.pattern == "/v1/jobs" && route.methods.admits(Method::post)) ||
                       (route.pattern == "/v1/jobs/{id}" && route.methods.admits(Method::get)) ||
                       (route.pattern == "/v1/jobs/{id}" && route.methods.admits(Method::delete_)) ||
                       (route.pattern == "/v1/store/backup" && route.methods.admits(Method::post));
    EXPECT_EQ(std::holds_alternative<AnswerLater>(route.answer), waits) << route.pattern;
  }
  EXPECT_TRUE(answers_later(match(Method::post, "/v1/jobs")));
  EXPECT_FALSE(answers_later(match(Method::get, "/v1/jobs")));
}

TEST(Routes, OnlyTheProbesAndTheDashboardAreOpenAndMetricsFollowsItsFlag) {
  for (const Route& route : Api::routes()) {
    const bool dashboard = route.pattern.starts_with("/ui") || route.pattern == "/openapi.yaml";
    const Access expected = route.pattern == "/healthz" || route.pattern == "/readyz" || dashboard
                                ? Access::open
                            : route.pattern == "/metrics" ? Access::metrics
                                                          : Access::token;
    EXPECT_EQ(route.access, expected) << route.pattern;
  }
}

TEST(Routes, HeadIsServedWhereverGetIs) {
  EXPECT_EQ(match(Method::head, "/healthz").name, "/healthz");
  ASSERT_NE(match(Method::head, "/v1/jobs/a").route, nullptr);
  EXPECT_EQ(match(Method::head, "/v1/jobs/a").route, match(Method::get, "/v1/jobs/a").route);
  EXPECT_EQ(match(Method::head, "/v1/jobs").route, match(Method::get, "/v1/jobs").route);
}

TEST(Routes, WrongMethodOnAKnownPathGivesTheAllowListOfAllItsRoutes) {
  auto jobs = match(Method::put, "/v1/jobs");
  EXPECT_EQ(jobs.route, nullptr);
  EXPECT_EQ(jobs.name, "/v1/jobs");
  EXPECT_EQ(jobs.allowed.allow_header(), "GET, HEAD, POST");
  auto job = match(Method::post, "/v1/jobs/abc");
  EXPECT_EQ(job.route, nullptr);
  EXPECT_EQ(job.allowed.allow_header(), "GET, HEAD, DELETE");
  EXPECT_EQ(match(Method::post, "/healthz").allowed.allow_header(), "GET, HEAD");
  EXPECT_EQ(match(Method::delete_, "/v1/jobs/a/events").allowed.allow_header(), "GET, HEAD");
}

TEST(Routes, UnknownPathsMatchNothingAndAreNamedUnmatched) {
  for (const char* path : {"/", "/v1", "/v1/jobs/", "/v1/jobs/a/b", "/v1/jobs/a/events/x", "/v1/jobs//events",
                           "/healthzz", "/V1/jobs", "*", "http://host/healthz"}) {
    const RouteMatch m = match(Method::get, path);
    EXPECT_EQ(m.route, nullptr) << path;
    EXPECT_TRUE(m.allowed.empty()) << path;
    EXPECT_EQ(m.name, "unmatched") << path;
  }
}

TEST(Routes, ATableOfAnyShapeMatchesItsOwnPatterns) {
  // A new route is one entry: the matcher knows no path of its own.
  const Route table[] = {{"/v2/things/{id}/parts", {Method::put}, Access::token, AnswerNow{}}};
  auto m = match_route(table, Method::put, "/v2/things/t1/parts");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.id, "t1");
  EXPECT_EQ(match_route(table, Method::get, "/v2/things/t1/parts").allowed.allow_header(), "PUT");
  EXPECT_EQ(match_route(table, Method::put, "/v2/things/t1").route, nullptr);
}

TEST(QueryParam, FindsDecodesAndReportsAbsence) {
  using jobd::http::query_param;
  EXPECT_EQ(query_param("wait=5&state=running", "state"), "running");
  EXPECT_EQ(query_param("kind=a%20b+c", "kind"), "a b c");
  EXPECT_EQ(query_param("flag&x=1", "flag"), "");
  EXPECT_FALSE(query_param("waiting=5", "wait").has_value());
  EXPECT_FALSE(query_param("", "wait").has_value());
  EXPECT_EQ(query_param("wait=%zz", "wait"), "%zz");  // malformed escape passed on undecoded
}

TEST(Routes, TheDashboardAndTheContractAreOpenRoutesOfGetAndHead) {
  const auto table = jobd::api::Api::routes();
  using jobd::http::Method;
  EXPECT_EQ(match_route(table, Method::get, "/ui").name, "/ui");
  EXPECT_EQ(match_route(table, Method::get, "/ui/").name, "/ui/");
  ASSERT_NE(match_route(table, Method::head, "/ui/app.js").route, nullptr);
  // A file under a folder: the {asset*} segment takes the rest of the path.
  const auto nested = match_route(table, Method::get, "/ui/vendor/uPlot.iife.min.js");
  EXPECT_EQ(nested.name, "/ui/{asset*}");
  EXPECT_EQ(nested.id, "vendor/uPlot.iife.min.js");
  EXPECT_EQ(match_route(table, Method::get, "/openapi.yaml").name, "/openapi.yaml");
  EXPECT_EQ(match_route(table, Method::post, "/ui").allowed.allow_header(), "GET, HEAD");
  EXPECT_EQ(match_route(table, Method::delete_, "/openapi.yaml").route, nullptr);
  EXPECT_EQ(match_route(table, Method::get, "/uix").route, nullptr);
  for (const char* path : {"/ui", "/ui/app.js", "/openapi.yaml"}) {
    EXPECT_EQ(match_route(table, Method::get, path).route->access, jobd::api::Access::open) << path;
  }
}

// Replicas on a shared store: the list and a job's event stream read Redis, so those two routes
// carry a waiting handler of their own; the table a replica serves has it in their place.
TEST(Routes, OnlyTheListAndAJobsEventStreamAnswerDifferentlyOnASharedStore) {
  for (const Route& route : Api::routes()) {
    const bool differs = (route.pattern == "/v1/jobs" && route.methods.admits(Method::get)) ||
                         route.pattern == "/v1/jobs/{id}/events";
    EXPECT_EQ(route.shared != nullptr, differs) << route.pattern;
  }
  const std::vector<Route> shared = on_shared_store(Api::routes());
  ASSERT_EQ(shared.size(), Api::routes().size());
  for (std::size_t i = 0; i < shared.size(); ++i) {
    const Route& local = Api::routes()[i];
    EXPECT_EQ(shared[i].pattern, local.pattern);
    EXPECT_EQ(shared[i].access, local.access) << local.pattern;
    EXPECT_EQ(shared[i].methods.allow_header(), local.methods.allow_header()) << local.pattern;
    if (local.shared != nullptr) {
      ASSERT_TRUE(std::holds_alternative<AnswerLater>(shared[i].answer)) << local.pattern;
      EXPECT_TRUE(std::get<AnswerLater>(shared[i].answer) == local.shared) << local.pattern;
    } else {
      EXPECT_TRUE(shared[i].answer == local.answer) << local.pattern;
    }
  }
  // Matched in the same order: the same names, 404s and 405s on either table.
  EXPECT_EQ(match_route(shared, Method::get, "/v1/jobs/x/events").name, "/v1/jobs/{id}/events");
  EXPECT_EQ(match_route(shared, Method::put, "/v1/jobs").allowed.allow_header(), "GET, HEAD, POST");
}
