// The HTTP API v1 against a real jobd: every endpoint and the status codes users rely on.
#include <gtest/gtest.h>

#include "harness.hpp"

using namespace jobd::testing;
using nlohmann::json;

namespace {
class Api : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new JobdProcess({"--test-kinds"}); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::uint16_t port() { return server_->port(); }
  static JobdProcess* server_;
};
JobdProcess* Api::server_ = nullptr;
}  // namespace

TEST_F(Api, HealthAndReadinessAnswer200) {
  auto health = get(port(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json()["status"], "ok");
  EXPECT_EQ(get(port(), "/readyz").status, 200);
}

TEST_F(Api, KindsCatalogListsBuiltinsWithSchemas) {
  auto kinds = get(port(), "/v1/kinds");
  ASSERT_EQ(kinds.status, 200);
  std::map<std::string, json> by_name;
  const json catalog = kinds.json();
  for (const auto& kind : catalog["kinds"]) by_name[kind["name"].get<std::string>()] = kind;
  for (const char* name : {"sleep", "echo", "primes", "sha256", "spin", "fail"}) {
    ASSERT_TRUE(by_name.contains(name)) << name;
  }
  EXPECT_EQ(by_name["primes"]["params"]["properties"]["n"]["type"], "integer");
  EXPECT_EQ(by_name["sleep"]["default_executor"], "loop");
}

TEST_F(Api, SubmitWithWaitReturnsTheFinishedJob) {
  auto echo = submit(port(), {{"kind", "echo"}, {"params", {{"hello", "world"}}}}, "?wait=5");
  ASSERT_EQ(echo.status, 200) << echo.body;
  auto job = echo.json();
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_EQ(job["result"], json({{"hello", "world"}}));
  EXPECT_EQ(job["executor"], "loop");
  EXPECT_EQ(echo.header("location"), "/v1/jobs/" + job["id"].get<std::string>());
  for (const char* field : {"created_at", "started_at", "finished_at"})
    EXPECT_TRUE(job.contains(field)) << field;

  auto primes = submit(port(), {{"kind", "primes"}, {"params", {{"n", 1000}}}}, "?wait=5");
  ASSERT_EQ(primes.status, 200);
  EXPECT_EQ(primes.json()["result"]["count"], 168);
  EXPECT_EQ(primes.json()["executor"], "thread");

  auto hash = submit(port(), {{"kind", "sha256"}, {"params", {{"data", "abc"}, {"rounds", 2}}}}, "?wait=5");
  ASSERT_EQ(hash.status, 200);
  EXPECT_EQ(hash.json()["result"]["digest"],
            "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358");
}

TEST_F(Api, SubmitWithoutWaitIs202AndTheJobCanBeFetched) {
  auto accepted = submit(port(), {{"kind", "sleep"}, {"params", {{"ms", 50}}}});
  ASSERT_EQ(accepted.status, 202);
  const std::string id = accepted.json()["id"];
  EXPECT_EQ(id.size(), 32u);
  auto now = get(port(), "/v1/jobs/" + id);
  EXPECT_EQ(now.status, 200);
  EXPECT_TRUE(now.json()["state"] == "running" || now.json()["state"] == "succeeded");
  auto later = get(port(), "/v1/jobs/" + id + "?wait=5");
  EXPECT_EQ(later.json()["state"], "succeeded");
  EXPECT_EQ(later.json()["result"]["slept_ms"], 50);
}

TEST_F(Api, FailingKindEndsFailedWithItsMessage) {
  auto failed = submit(port(), {{"kind", "fail"}, {"params", {{"message", "boom"}}}}, "?wait=5");
  ASSERT_EQ(failed.status, 200);
  EXPECT_EQ(failed.json()["state"], "failed");
  EXPECT_EQ(failed.json()["error"]["type"], "kind-failed");
  EXPECT_EQ(failed.json()["error"]["message"], "boom");
}

TEST_F(Api, BadRequestsGetProblemJsonWithStableTypes) {
  struct Case {
    std::string body;
    std::string content_type;
    int status;
    std::string type;
    std::string pointer;
  };
  const std::vector<Case> cases = {
      {"{", "application/json", 400, "/problems/bad-json", ""},
      {R"({"kind":"nope"})", "application/json", 400, "/problems/unknown-kind", "/kind"},
      {R"({"kind":"primes","params":{"n":-1}})", "application/json", 400, "/problems/invalid-params",
       "/params/n"},
      {R"({"kind":"primes","params":{"n":"10"}})", "application/json", 400, "/problems/invalid-params",
       "/params/n"},
      {R"({"kind":"primes","params":{}})", "application/json", 400, "/problems/invalid-params", "/params/n"},
      {R"({"kind":"sleep","params":{"ms":1},"executor":"thread"})", "application/json", 400,
       "/problems/executor-not-allowed", "/executor"},
      {R"({"kind":"echo","timeout_ms":"soon"})", "application/json", 400, "/problems/invalid-request",
       "/timeout_ms"},
      {R"({"kind":"echo","timeout_ms":999999999999})", "application/json", 400, "/problems/invalid-request",
       "/timeout_ms"},
      {R"({"kind":"echo"})", "text/plain", 415, "/problems/unsupported-media-type", ""},
      {R"({"kind":"echo"})", "", 415, "/problems/unsupported-media-type", ""},
  };
  for (const auto& c : cases) {
    Headers headers;
    if (!c.content_type.empty()) headers.emplace_back("Content-Type", c.content_type);
    auto response = http_request(port(), "POST", "/v1/jobs", c.body, headers);
    EXPECT_EQ(response.status, c.status) << c.body;
    EXPECT_EQ(response.header("content-type"), "application/problem+json") << c.body;
    auto problem = response.json();
    EXPECT_EQ(problem["type"], c.type) << c.body;
    EXPECT_EQ(problem["status"], c.status) << c.body;
    EXPECT_FALSE(problem["title"].get<std::string>().empty());
    if (!c.pointer.empty()) {
      EXPECT_EQ(problem["pointer"], c.pointer) << c.body;
    }
  }
}

TEST_F(Api, BadQueryParametersAre400) {
  EXPECT_EQ(submit(port(), {{"kind", "echo"}}, "?wait=61").status, 400);
  EXPECT_EQ(submit(port(), {{"kind", "echo"}}, "?wait=soon").status, 400);
  EXPECT_EQ(get(port(), "/v1/jobs?state=lost").json()["type"], "/problems/invalid-query");
  EXPECT_EQ(get(port(), "/v1/jobs?limit=0").status, 400);
  EXPECT_EQ(get(port(), "/v1/jobs?limit=1001").status, 400);
  EXPECT_EQ(get(port(), "/v1/jobs?cursor=abc").status, 400);
}

TEST_F(Api, UnknownRoutesAre404AndWrongMethodsAre405WithAllow) {
  auto missing = get(port(), "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json()["type"], "/problems/not-found");
  auto no_job = get(port(), "/v1/jobs/00000000000000000000000000000000");
  EXPECT_EQ(no_job.status, 404);
  EXPECT_EQ(no_job.json()["type"], "/problems/job-not-found");
  auto put = http_request(port(), "PUT", "/v1/jobs", "{}");
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(put.header("allow"), "GET, HEAD, POST");
  auto post = http_request(port(), "POST", "/v1/jobs/abc", "{}");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("allow"), "GET, HEAD, DELETE");
}

TEST_F(Api, CancelOfAFinishedJobIs409AndOfAnUnknownJob404) {
  auto done = submit(port(), {{"kind", "echo"}}, "?wait=5");
  const std::string id = done.json()["id"];
  auto again = http_request(port(), "DELETE", "/v1/jobs/" + id);
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.json()["type"], "/problems/job-finished");
  EXPECT_EQ(http_request(port(), "DELETE", "/v1/jobs/ffffffffffffffffffffffffffffffff").status, 404);
}

TEST_F(Api, ListFiltersByStateAndKindAndPagesWithACursor) {
  for (int i = 0; i < 3; ++i)
    submit(port(), {{"kind", "sha256"}, {"params", {{"data", std::to_string(i)}}}}, "?wait=5");
  auto page = get(port(), "/v1/jobs?kind=sha256&state=succeeded&limit=2");
  ASSERT_EQ(page.status, 200);
  auto body = page.json();
  ASSERT_EQ(body["jobs"].size(), 2u);
  for (const auto& job : body["jobs"]) {
    EXPECT_EQ(job["kind"], "sha256");
    EXPECT_EQ(job["state"], "succeeded");
  }
  EXPECT_GE(body["jobs"][0]["created_at"], body["jobs"][1]["created_at"]);  // newest first
  ASSERT_TRUE(body["next_cursor"].is_string());
  auto next =
      get(port(), "/v1/jobs?kind=sha256&limit=2&cursor=" + body["next_cursor"].get<std::string>()).json();
  ASSERT_GE(next["jobs"].size(), 1u);
  EXPECT_NE(next["jobs"][0]["id"], body["jobs"][0]["id"]);
  EXPECT_NE(next["jobs"][0]["id"], body["jobs"][1]["id"]);
}

TEST_F(Api, IdempotencyKeyReturnsTheSameJobAndRunsItOnce) {
  const json body = {{"kind", "sleep"}, {"params", {{"ms", 100}}}, {"idempotency_key", "order-42"}};
  auto first = submit(port(), body);
  auto second = submit(port(), body);
  ASSERT_EQ(first.status, 202);
  ASSERT_EQ(second.status, 202);
  EXPECT_EQ(first.json()["id"], second.json()["id"]);
  EXPECT_EQ(second.header("idempotent-replayed"), "true");
  auto list = get(port(), "/v1/jobs?kind=sleep&limit=1000").json();
  int with_key = 0;
  for (const auto& job : list["jobs"]) with_key += job.value("idempotency_key", "") == "order-42";
  EXPECT_EQ(with_key, 1);
  auto conflict =
      submit(port(), {{"kind", "sleep"}, {"params", {{"ms", 5}}}, {"idempotency_key", "order-42"}});
  EXPECT_EQ(conflict.status, 422);
  EXPECT_EQ(conflict.json()["type"], "/problems/idempotency-conflict");
}

TEST_F(Api, HeadAnswersHeadersWithoutABody) {
  RawConnection connection(port());
  connection.send(
      "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: "
      "close\r\n\r\n");
  const std::string data = connection.read_all();
  // The HEAD answer announces the GET body's length but sends none: the GET answer follows
  // its blank line directly.
  const auto first_end = data.find("\r\n\r\n");
  ASSERT_NE(first_end, std::string::npos);
  const auto body_start = data.rfind("\r\n\r\n") + 4;
  const std::string body = data.substr(body_start);
  EXPECT_NE(data.substr(0, first_end).find("Content-Length: " + std::to_string(body.size())),
            std::string::npos);
  EXPECT_EQ(data.substr(first_end + 4, 8), "HTTP/1.1");
  EXPECT_TRUE(body.starts_with(R"({"status":"ok","store":{)")) << body;
}

TEST_F(Api, HeadOfAJobIs200WhileItIsKeptAnd404OtherwiseWithoutABody) {
  const std::string id = submit(port(), {{"kind", "echo"}}, "?wait=5").json()["id"];
  RawConnection connection(port());
  connection.send("HEAD /v1/jobs/" + id + " HTTP/1.1\r\nHost: x\r\n\r\nHEAD /v1/jobs/" +
                  std::string(32, '0') + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string data = connection.read_all();
  EXPECT_TRUE(data.starts_with("HTTP/1.1 200 OK\r\n")) << data;
  const auto second = data.find("HTTP/1.1 404 Not Found\r\n");
  ASSERT_NE(second, std::string::npos) << data;
  // Neither answer has a body: the second head follows the first's blank line, and the data
  // ends with the second's.
  EXPECT_EQ(data.substr(second - 4, 4), "\r\n\r\n");
  EXPECT_TRUE(data.ends_with("\r\n\r\n")) << data;
}
