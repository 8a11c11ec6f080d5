// Reading and cancelling jobs through the Api with a fake executor: GET /v1/jobs/{id},
// DELETE /v1/jobs/{id}, GET /v1/jobs (filters, paging, cursors). No socket.
#include <gtest/gtest.h>

#include "api_fixture.hpp"

using namespace jobd::testing;
using jobd::http::Method;
using jobd::proto::Outcome;
using nlohmann::json;

TEST(ApiGetJob, UnknownIdIs404) {
  ApiHarness h;
  const auto response = h.get("/v1/jobs/0123456789abcdef0123456789abcdef");
  EXPECT_EQ(response.status, 404u);
  EXPECT_EQ(problem_type(response), "/problems/job-not-found");
}

TEST(ApiGetJob, KnownIdIs200WithTheRecordAsItIsNow) {
  ApiHarness h;
  const std::string id = h.submit_work();
  EXPECT_EQ(body_of(h.get("/v1/jobs/" + id))["state"], "queued");
  h.executor->start(h.seq_of(id));
  const auto running = h.get("/v1/jobs/" + id);
  EXPECT_EQ(running.status, 200u);
  EXPECT_EQ(body_of(running)["state"], "running");
  h.executor->finish(h.seq_of(id), Outcome::success({{"answer", 42}}));
  const auto done = h.get("/v1/jobs/" + id);
  EXPECT_EQ(body_of(done)["state"], "succeeded");
  EXPECT_EQ(body_of(done)["result"], json({{"answer", 42}}));
}

TEST(ApiGetJob, WaitReturnsTheFinalRecordWhenTheJobEndsMeanwhile) {
  ApiHarness h;
  const std::string id = h.submit_work();
  const auto seq = h.seq_of(id);
  boost::asio::steady_timer later(h.loop, std::chrono::milliseconds(20));
  later.async_wait(
      [&](boost::system::error_code) { h.executor->finish(seq, Outcome::failure("boom", "it broke")); });
  const auto response = h.get("/v1/jobs/" + id + "?wait=2");
  EXPECT_TRUE(h.awaited);
  EXPECT_EQ(response.status, 200u);
  EXPECT_EQ(body_of(response)["state"], "failed");
  EXPECT_EQ(body_of(response)["error"]["message"], "it broke");
}

TEST(ApiCancel, UnknownIdIs404) {
  ApiHarness h;
  EXPECT_EQ(h.call({.method = Method::delete_, .target = "/v1/jobs/nope"}).status, 404u);
}

TEST(ApiCancel, JobTheExecutorStopsAtOnceIs200Cancelled) {
  ApiHarness h;
  const std::string id = h.submit_work();
  const auto response = h.call({.method = Method::delete_, .target = "/v1/jobs/" + id});
  EXPECT_EQ(response.status, 200u);
  EXPECT_EQ(body_of(response)["state"], "cancelled");
  ASSERT_EQ(h.executor->stops().size(), 1u);
  EXPECT_EQ(h.executor->stops()[0].second, jobd::exec::StopReason::cancelled);
}

TEST(ApiCancel, JobStillStoppingIs202AndCancelledOnceTheExecutorReports) {
  ApiHarness h;
  h.executor->stop_at_once = false;
  const std::string id = h.submit_work();
  h.executor->start(h.seq_of(id));
  const auto response = h.call({.method = Method::delete_, .target = "/v1/jobs/" + id});
  EXPECT_EQ(response.status, 202u);
  EXPECT_EQ(body_of(response)["state"], "running");
  h.executor->finish(h.seq_of(id), jobd::exec::stopped_outcome(jobd::exec::StopReason::cancelled));
  EXPECT_EQ(body_of(h.get("/v1/jobs/" + id))["state"], "cancelled");
}

TEST(ApiCancel, FinishedJobIs409) {
  ApiHarness h;
  const std::string id = h.submit_work();
  h.executor->finish(h.seq_of(id), Outcome::success({}));
  const auto response = h.call({.method = Method::delete_, .target = "/v1/jobs/" + id});
  EXPECT_EQ(response.status, 409u);
  EXPECT_EQ(problem_type(response), "/problems/job-finished");
  EXPECT_TRUE(h.executor->stops().empty());
}

TEST(ApiList, PagesNewestFirstAndTheCursorContinuesWhereThePageEnded) {
  ApiHarness h;
  std::vector<std::string> ids;
  ids.reserve(5);
  for (int i = 0; i < 5; ++i) ids.push_back(h.submit_work(i));
  const auto first = body_of(h.get("/v1/jobs?limit=2"));
  ASSERT_EQ(first["jobs"].size(), 2u);
  EXPECT_EQ(first["jobs"][0]["id"], ids[4]);
  EXPECT_EQ(first["jobs"][1]["id"], ids[3]);
  ASSERT_TRUE(first["next_cursor"].is_string());
  const auto second = body_of(h.get("/v1/jobs?limit=2&cursor=" + first["next_cursor"].get<std::string>()));
  ASSERT_EQ(second["jobs"].size(), 2u);
  EXPECT_EQ(second["jobs"][0]["id"], ids[2]);
  EXPECT_EQ(second["jobs"][1]["id"], ids[1]);
  const auto last = body_of(h.get("/v1/jobs?limit=2&cursor=" + second["next_cursor"].get<std::string>()));
  ASSERT_EQ(last["jobs"].size(), 1u);
  EXPECT_EQ(last["jobs"][0]["id"], ids[0]);
  EXPECT_TRUE(last["next_cursor"].is_null());
}

TEST(ApiList, FiltersByStateAndKind) {
  ApiHarness h;
  const std::string done = h.submit_work();
  const std::string queued = h.submit_work();
  h.executor->finish(h.seq_of(done), Outcome::success({}));
  const auto succeeded = body_of(h.get("/v1/jobs?state=succeeded"));
  ASSERT_EQ(succeeded["jobs"].size(), 1u);
  EXPECT_EQ(succeeded["jobs"][0]["id"], done);
  EXPECT_EQ(body_of(h.get("/v1/jobs?state=queued"))["jobs"][0]["id"], queued);
  EXPECT_EQ(body_of(h.get("/v1/jobs?kind=work"))["jobs"].size(), 2u);
  EXPECT_EQ(body_of(h.get("/v1/jobs?kind=other"))["jobs"].size(), 0u);
}

TEST(ApiList, BadQueryParametersAre400NamingTheParameter) {
  ApiHarness h({.max_list_limit = 100});
  for (auto [query, pointer] :
       std::initializer_list<std::pair<const char*, const char*>>{{"?limit=0", "?limit"},
                                                                  {"?limit=101", "?limit"},
                                                                  {"?limit=ten", "?limit"},
                                                                  {"?cursor=abc", "?cursor"},
                                                                  {"?state=sleeping", "?state"}}) {
    const auto response = h.get(std::string("/v1/jobs") + query);
    EXPECT_EQ(response.status, 400u) << query;
    EXPECT_EQ(problem_type(response), "/problems/invalid-query") << query;
    EXPECT_EQ(body_of(response)["pointer"], pointer) << query;
  }
}
