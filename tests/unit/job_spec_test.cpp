#include <gtest/gtest.h>

#include "jobd/proto/job_spec.hpp"

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
