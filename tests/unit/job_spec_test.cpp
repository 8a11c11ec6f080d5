#include <gtest/gtest.h>

#include "jobd/proto/job_spec.hpp"
#include "jobd/proto/rfc3339.hpp"

using namespace jobd::proto;
using nlohmann::json;

namespace {
std::string problem_pointer(const json& body) {
  auto result = parse_job_spec(body);
  if (std::holds_alternative<JobSpec>(result)) return "(ok)";
  const auto& problem = std::get<Problem>(result);
  EXPECT_EQ(problem.kind.type, problems::invalid_request.type);
  return problem.pointer.value_or("");
}
}  // namespace

TEST(JobSpec, ParsesEveryField) {
  auto result = parse_job_spec(json::parse(
      R"({"kind":"primes","executor":"process","params":{"n":7},"timeout_ms":500,"idempotency_key":"k-1"})"));
  ASSERT_TRUE(std::holds_alternative<JobSpec>(result));
  const auto& spec = std::get<JobSpec>(result);
  EXPECT_EQ(spec.kind, "primes");
  EXPECT_EQ(spec.executor, Executor::process);
  EXPECT_EQ(spec.params, json({{"n", 7}}));
  EXPECT_EQ(spec.timeout_ms, 500);
  EXPECT_EQ(spec.idempotency_key, "k-1");
}

TEST(JobSpec, OnlyKindIsRequired) {
  auto result = parse_job_spec(json{{"kind", "echo"}});
  ASSERT_TRUE(std::holds_alternative<JobSpec>(result));
  EXPECT_EQ(std::get<JobSpec>(result).params, json::object());
  EXPECT_FALSE(std::get<JobSpec>(result).executor.has_value());
}

TEST(JobSpec, EachBadFieldIsNamed) {
  EXPECT_EQ(problem_pointer(json::array()), "");
  EXPECT_EQ(problem_pointer(json::object()), "/kind");
  EXPECT_EQ(problem_pointer({{"kind", 5}}), "/kind");
  EXPECT_EQ(problem_pointer({{"kind", ""}}), "/kind");
  EXPECT_EQ(problem_pointer({{"kind", std::string(129, 'k')}}), "/kind");
  EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"executor", "gpu"}}), "/executor");
  EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"params", "x"}}), "/params");
  EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"timeout_ms", 0}}), "/timeout_ms");
  EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"timeout_ms", -5}}), "/timeout_ms");
  EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"timeout_ms", 1.5}}), "/timeout_ms");
  EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"idempotency_key", "has space"}}), "/idempotency_key");
  EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"idempotency_key", std::string(257, 'a')}}),
            "/idempotency_key");
  EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"timeout", 5}}), "/timeout");  // misspelt field
}

TEST(JobSpec, AttemptsAndDelaysHaveDefaultsAndBounds) {
  const auto defaults = std::get<JobSpec>(parse_job_spec(json{{"kind", "echo"}}));
  EXPECT_EQ(defaults.max_attempts, 1);
  EXPECT_EQ(defaults.retry_delay_ms, kDefaultRetryDelayMs);
  EXPECT_FALSE(defaults.delay_ms || defaults.run_at_ms);
  const auto spec = std::get<JobSpec>(
      parse_job_spec(json{{"kind", "echo"}, {"max_attempts", 20}, {"retry_delay_ms", 10}, {"delay_ms", 0}}));
  EXPECT_EQ(spec.max_attempts, 20);
  EXPECT_EQ(spec.retry_delay_ms, 10);
  EXPECT_EQ(spec.delay_ms, 0);
  for (const json& bad : {json(0), json(21), json(-1), json(1.5), json("3"), json(nullptr)}) {
    EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"max_attempts", bad}}), "/max_attempts") << bad;
  }
  for (const json& bad : {json(9), json(3'600'001), json(1e3), json(UINT64_MAX)}) {
    EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"retry_delay_ms", bad}}), "/retry_delay_ms") << bad;
  }
  for (const json& bad : {json(-1), json(kMaxDelayMs + 1), json("5")}) {
    EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"delay_ms", bad}}), "/delay_ms") << bad;
  }
}

TEST(JobSpec, RunAtIsAnRfc3339TimeAndExcludesDelay) {
  const auto spec =
      std::get<JobSpec>(parse_job_spec(json{{"kind", "echo"}, {"run_at", "2026-11-28T10:00:00.250Z"}}));
  EXPECT_EQ(spec.run_at_ms, 1'795'860'000'250);
  for (const char* bad : {"tomorrow", "2026-11-28", "2026-11-28T10:00:00", "2026-02-30T10:00:00Z",
                          "2026-11-28T24:00:00Z", "2026-11-28T10:00:00+0100", ""}) {
    EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"run_at", bad}}), "/run_at") << bad;
  }
  EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"run_at", 5}}), "/run_at");
  EXPECT_EQ(problem_pointer({{"kind", "echo"}, {"delay_ms", 5}, {"run_at", "2026-11-28T10:00:00Z"}}),
            "/run_at");
}

TEST(Rfc3339, OffsetsAndFractionsAreRead) {
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01t00:00:01.5z"), 1'500);
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_rfc3339_ms("1969-12-31T23:30:00-00:30"), 0);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-28T10:00:00.123456789Z"), 1'795'860'000'123);
  EXPECT_EQ(parse_rfc3339_ms("2024-02-29T00:00:00Z"), 1'709'164'800'000);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-28T10:00:00.Z"), std::nullopt);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-28T10:00:60Z"), std::nullopt);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-28T10:00:00Zjunk"), std::nullopt);
}
