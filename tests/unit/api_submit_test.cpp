// POST /v1/jobs through the Api with a fake executor: each answer the API documents, no socket.
#include <gtest/gtest.h>

#include "api_fixture.hpp"

using namespace jobd::testing;
using jobd::http::Method;
using nlohmann::json;

TEST(ApiSubmit, AcceptedJobIs202QueuedWithItsLocationAndReachesTheExecutor) {
  ApiHarness h;
  const auto response = h.submit({{"kind", "work"}, {"params", {{"n", 3}}}});
  EXPECT_EQ(response.status, 202u);
  const auto job = body_of(response);
  EXPECT_EQ(job["state"], "queued");
  EXPECT_EQ(job["kind"], "work");
  EXPECT_EQ(header_of(response, "Location"), "/v1/jobs/" + job["id"].get<std::string>());
  ASSERT_EQ(h.executor->tickets().size(), 1u);
  EXPECT_EQ(h.executor->tickets()[0].job_id, job["id"]);
  EXPECT_EQ(h.executor->tickets()[0].params, json({{"n", 3}}));
  EXPECT_TRUE(h.awaited);  // submit may wait (?wait=): it is the one route answered by a coroutine
  EXPECT_EQ(h.route, "/v1/jobs");
}

TEST(ApiSubmit, WaitThatSeesTheJobFinishIs200WithTheResult) {
  ApiHarness h;
  h.executor->finish_on_submit = true;
  const auto response = h.submit({{"kind", "work"}, {"params", {{"n", 1}}}}, "?wait=2");
  EXPECT_EQ(response.status, 200u) << response.body;
  EXPECT_EQ(body_of(response)["state"], "succeeded");
  EXPECT_EQ(body_of(response)["result"], json({{"done", true}}));
}

TEST(ApiSubmit, WaitThatRunsOutIs202WithTheJobAsItIs) {
  ApiHarness h;
  const auto response = h.submit({{"kind", "work"}, {"params", {{"n", 1}}}}, "?wait=0.02");
  EXPECT_EQ(response.status, 202u);
  EXPECT_EQ(body_of(response)["state"], "queued");
}

TEST(ApiSubmit, WaitOutsideItsBoundsIs400NamingTheParameter) {
  ApiHarness h({.max_wait = std::chrono::seconds(10)});
  for (const char* query : {"?wait=11", "?wait=-1", "?wait=soon", "?wait=nan"}) {
    const auto response = h.submit({{"kind", "work"}, {"params", {{"n", 1}}}}, query);
    EXPECT_EQ(response.status, 400u) << query;
    EXPECT_EQ(problem_type(response), "/problems/invalid-query") << query;
    EXPECT_EQ(body_of(response)["pointer"], "?wait") << query;
  }
  EXPECT_TRUE(h.executor->tickets().empty());
}

TEST(ApiSubmit, BodyThatIsNotJsonIs400BadJson) {
  ApiHarness h;
  const auto response = h.call({.method = Method::post, .target = "/v1/jobs", .body = R"({"kind": )"});
  EXPECT_EQ(response.status, 400u);
  EXPECT_EQ(problem_type(response), "/problems/bad-json");
}

TEST(ApiSubmit, BodyThatIsNotDeclaredJsonIs415) {
  ApiHarness h;
  const auto response = h.call({.method = Method::post,
                                .target = "/v1/jobs",
                                .body = R"({"kind":"work","params":{"n":1}})",
                                .content_type = "text/plain"});
  EXPECT_EQ(response.status, 415u);
  EXPECT_EQ(problem_type(response), "/problems/unsupported-media-type");
}

TEST(ApiSubmit, UnknownKindIs400PointingAtKind) {
  ApiHarness h;
  const auto response = h.submit({{"kind", "nope"}});
  EXPECT_EQ(response.status, 400u);
  EXPECT_EQ(problem_type(response), "/problems/unknown-kind");
  EXPECT_EQ(body_of(response)["pointer"], "/kind");
}

TEST(ApiSubmit, ExecutorTheKindCannotUseIs400PointingAtExecutor) {
  ApiHarness h;
  const auto wrong = h.submit({{"kind", "work"}, {"executor", "loop"}, {"params", {{"n", 1}}}});
  EXPECT_EQ(wrong.status, 400u);
  EXPECT_EQ(problem_type(wrong), "/problems/executor-not-allowed");
  EXPECT_EQ(body_of(wrong)["pointer"], "/executor");
  EXPECT_NE(body_of(wrong)["detail"].get<std::string>().find("runs on: thread"), std::string::npos);
  // A kind whose only executor is not running here is refused the same way.
  const auto absent = h.submit({{"kind", "looped"}});
  EXPECT_EQ(absent.status, 400u);
  EXPECT_EQ(problem_type(absent), "/problems/executor-not-allowed");
  EXPECT_TRUE(h.executor->tickets().empty());
}

TEST(ApiSubmit, InvalidParamsAre400PointingAtTheField) {
  ApiHarness h;
  const auto too_big = h.submit({{"kind", "work"}, {"params", {{"n", 11}}}});
  EXPECT_EQ(too_big.status, 400u);
  EXPECT_EQ(problem_type(too_big), "/problems/invalid-params");
  EXPECT_EQ(body_of(too_big)["pointer"], "/params/n");
  const auto unknown = h.submit({{"kind", "work"}, {"params", {{"n", 1}, {"m", 2}}}});
  EXPECT_EQ(problem_type(unknown), "/problems/invalid-params");
  EXPECT_EQ(body_of(unknown)["pointer"], "/params/m");
}

TEST(ApiSubmit, SameIdempotencyKeyAndRequestReplaysTheJob) {
  ApiHarness h;
  const json request = {{"kind", "work"}, {"params", {{"n", 2}}}, {"idempotency_key", "k-1"}};
  const auto first = h.submit(request);
  const auto again = h.submit(request);
  EXPECT_EQ(first.status, 202u);
  EXPECT_EQ(again.status, 202u);
  EXPECT_EQ(body_of(again)["id"], body_of(first)["id"]);
  EXPECT_EQ(header_of(first, "Idempotent-Replayed"), "(none)");
  EXPECT_EQ(header_of(again, "Idempotent-Replayed"), "true");
  EXPECT_EQ(h.executor->tickets().size(), 1u);  // the work runs once
}

TEST(ApiSubmit, SameIdempotencyKeyWithAnotherRequestIs422) {
  ApiHarness h;
  h.submit({{"kind", "work"}, {"params", {{"n", 2}}}, {"idempotency_key", "k-1"}});
  const auto conflict = h.submit({{"kind", "work"}, {"params", {{"n", 3}}}, {"idempotency_key", "k-1"}});
  EXPECT_EQ(conflict.status, 422u);
  EXPECT_EQ(problem_type(conflict), "/problems/idempotency-conflict");
  EXPECT_EQ(body_of(conflict)["pointer"], "/idempotency_key");
  EXPECT_EQ(h.table.counts().total, 1u);
}

TEST(ApiSubmit, FullQueueIs429WithRetryAfterAndCreatesNoJob) {
  ApiHarness h({}, /*capacity=*/1);
  h.submit_work();
  const auto full = h.submit({{"kind", "work"}, {"params", {{"n", 1}}}});
  EXPECT_EQ(full.status, 429u);
  EXPECT_EQ(problem_type(full), "/problems/queue-full");
  EXPECT_EQ(header_of(full, "Retry-After"), std::to_string(kRetryAfter));
  EXPECT_EQ(h.table.counts().total, 1u);
}

TEST(ApiSubmit, DrainingServerIs503WithRetryAfter) {
  ApiHarness h;
  h.scheduler.begin_drain();
  const auto response = h.submit({{"kind", "work"}, {"params", {{"n", 1}}}});
  EXPECT_EQ(response.status, 503u);
  EXPECT_EQ(problem_type(response), "/problems/draining");
  EXPECT_EQ(header_of(response, "Retry-After"), std::to_string(kRetryAfter));
  EXPECT_EQ(h.table.counts().total, 0u);
  EXPECT_EQ(h.get("/readyz").status, 503u);
}
