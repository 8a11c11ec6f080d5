// The text fast path of POST /v1/jobs (proto::parse_common_job_spec) against the DOM path it
// stands in for: whatever it accepts must be the spec the DOM path gives, and it must decline
// everything the DOM path refuses or it does not read itself.
#include <gtest/gtest.h>

#include "http/json_body.hpp"
#include "jobd/proto/job_spec.hpp"

using namespace jobd::proto;
using nlohmann::json;

namespace {

// Equal values of the same types all the way down (nlohmann's == calls 1 and 1u equal).
bool same_json(const json& a, const json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key()) || !same_json(it.value(), b.at(it.key()))) return false;
    }
    return true;
  }
  return a == b;
}

// The DOM path's answer for a body, as the server takes it.
std::variant<JobSpec, Problem> dom_path(std::string_view body) {
  auto parsed = jobd::http::parse_json_body("application/json", body, 64);
  if (auto* problem = std::get_if<Problem>(&parsed)) return *problem;
  return parse_job_spec(std::move(std::get<json>(parsed)));
}

void expect_same_as_dom(std::string_view body, bool fast_accepts) {
  SCOPED_TRACE(std::string(body));
  const auto fast = parse_common_job_spec(body);
  ASSERT_EQ(fast.has_value(), fast_accepts);
  if (!fast) return;
  const auto dom = dom_path(body);
  ASSERT_TRUE(std::holds_alternative<JobSpec>(dom));
  const auto& want = std::get<JobSpec>(dom);
  EXPECT_EQ(fast->kind, want.kind);
  EXPECT_EQ(fast->executor, want.executor);
  EXPECT_TRUE(same_json(fast->params, want.params)) << fast->params.dump() << " vs " << want.params.dump();
  EXPECT_EQ(fast->timeout_ms, want.timeout_ms);
  EXPECT_EQ(fast->idempotency_key, want.idempotency_key);
  EXPECT_EQ(fast->max_attempts, want.max_attempts);
  EXPECT_EQ(fast->retry_delay_ms, want.retry_delay_ms);
  EXPECT_EQ(fast->delay_ms, want.delay_ms);
  EXPECT_EQ(fast->run_at_ms, want.run_at_ms);
}

}  // namespace

TEST(JobSpecText, ReadsTheUsualBodiesAsTheDomPathDoes) {
  expect_same_as_dom(R"({"kind":"echo","params":{"hello":"world"}})", true);
  expect_same_as_dom(R"({"kind":"echo"})", true);
  expect_same_as_dom(" \r\n\t{ \"kind\" : \"echo\" , \"params\" : { } } \n", true);
  expect_same_as_dom(
      R"({"kind":"primes","executor":"process","params":{"n":7},"timeout_ms":500,"idempotency_key":"k-1"})",
      true);
  expect_same_as_dom(R"({"params":{"a":-3,"b":0,"c":true,"d":false,"e":null,"f":"","g":-0},"kind":"x"})",
                     true);
  expect_same_as_dom(R"({"kind":"echo","max_attempts":3,"retry_delay_ms":10,"delay_ms":0})", true);
  expect_same_as_dom(R"({"kind":"echo","run_at":"2026-11-28T10:00:00.250Z"})", true);
  expect_same_as_dom(R"({"kind":"echo","params":{"n":999999999999999999}})", true);
}

TEST(JobSpecText, KeepsNlohmannsNumberTypes) {
  const auto spec = parse_common_job_spec(R"({"kind":"k","params":{"u":5,"i":-5}})");
  ASSERT_TRUE(spec);
  EXPECT_TRUE(spec->params["u"].is_number_unsigned());
  EXPECT_FALSE(spec->params["i"].is_number_unsigned());
  EXPECT_EQ(spec->params["i"].get<std::int64_t>(), -5);
}

TEST(JobSpecText, DeclinesWhatItDoesNotReadItself) {
  for (const char* body : {
           R"({"kind":"echo","params":{"a":{"b":1}}})",              // nested params
           R"({"kind":"echo","params":{"a":[1]}})",                  // an array
           R"({"kind":"echo","params":{"a":1.5}})",                  // a fraction
           R"({"kind":"echo","params":{"a":1e3}})",                  // an exponent
           R"({"kind":"echo","params":{"a":1234567890123456789}})",  // may not fit: nlohmann's call
           R"({"kind":"ech\u006f"})",                                // an escape
           "{\"kind\":\"\xc3\xa9\"}",                                // non-ASCII
           "\xef\xbb\xbf{\"kind\":\"echo\"}",                        // a byte order mark
       }) {
    expect_same_as_dom(body, false);
  }
}

TEST(JobSpecText, DeclinesEverythingTheDomPathRefuses) {
  for (const char* body : {
           "",
           "[]",
           "{}",
           R"({"kind":""})",
           R"({"kind":5})",
           R"({"kind":"echo","executor":"nowhere"})",
           R"({"kind":"echo","params":[]})",
           R"({"kind":"echo","params":"x"})",
           R"({"kind":"echo","timeout_ms":0})",
           R"({"kind":"echo","timeout_ms":-1})",
           R"({"kind":"echo","max_attempts":21})",
           R"({"kind":"echo","retry_delay_ms":1})",
           R"({"kind":"echo","delay_ms":-1})",
           R"({"kind":"echo","delay_ms":0,"run_at":"2026-11-28T10:00:00Z"})",
           R"({"kind":"echo","run_at":"tomorrow"})",
           R"({"kind":"echo","idempotency_key":"has space"})",
           R"({"kind":"echo","colour":"red"})",
           R"({"kind":"echo","kind":"sleep"})",
           R"({"kind":"echo","params":{"a":1,"a":2}})",
           R"({"kind":"echo"} x)",
           R"({"kind":"echo",})",
           R"({"kind":"echo","params":{"a":01}})",
           R"({"kind":"echo","params":{"a":tru}})",
           R"({"kind":"echo","params":{"a":-}})",
           R"({"kind":"echo")",
       }) {
    SCOPED_TRACE(body);
    EXPECT_FALSE(parse_common_job_spec(body).has_value());
    EXPECT_TRUE(std::holds_alternative<Problem>(dom_path(body)));
  }
}

TEST(JobSpecText, ChecksBeforeParsingRefuseWithTheDomPathsProblems) {
  using jobd::http::check_json_body;
  EXPECT_EQ(check_json_body("text/plain", "{}", 64)->kind.type, problems::unsupported_media_type.type);
  EXPECT_EQ(check_json_body("application/json", R"({"a":1,"a":2})", 64)->kind.type, problems::bad_json.type);
  EXPECT_EQ(check_json_body("application/json", R"({"a":{"b":{}}})", 2)->kind.type, problems::bad_json.type);
  EXPECT_FALSE(check_json_body("application/json; charset=utf-8", R"({"kind":"echo"})", 64).has_value());
}
