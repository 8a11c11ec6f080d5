// The worker's program without a process (exec/process/worker_main): how a RUN frame becomes a
// RESULT, exceptions included, with the kinds jobd's thread pool runs.
#include <gtest/gtest.h>

#include <new>
#include <stdexcept>

#include "exec/process/worker_main.hpp"
#include "kinds/builtin.hpp"
#include "kinds/kind.hpp"

using namespace jobd;

namespace {

kinds::Kind cpu_kind(std::string name, kinds::CpuHandler handler) {
  kinds::Kind kind;
  kind.name = std::move(name);
  kind.executors = {proto::Executor::process};
  kind.run_on_cpu = std::move(handler);
  return kind;
}

proto::Run run_of(std::string kind, nlohmann::json params = nlohmann::json::object()) {
  return proto::Run{"j-1", std::move(kind), std::move(params), 0};
}

}  // namespace

TEST(WorkerRunJob, RunsABuiltInKindAsTheThreadPoolWould) {
  kinds::KindRegistry registry;
  kinds::register_builtin_kinds(registry);
  const auto result = exec::run_job(run_of("primes", {{"n", 100}}), registry, {});
  EXPECT_TRUE(result.outcome.ok());
  EXPECT_EQ(result.job_id, "j-1");
  EXPECT_EQ(result.outcome.result, (nlohmann::json{{"count", 25}}));
}

TEST(WorkerRunJob, KindFailureKeepsItsType) {
  kinds::KindRegistry registry;
  registry.add(cpu_kind("nope", [](const nlohmann::json&, kinds::CpuContext&) {
    return kinds::Outcome::failure("kind-failed", "no");
  }));
  const auto result = exec::run_job(run_of("nope"), registry, {});
  EXPECT_FALSE(result.outcome.ok());
  EXPECT_EQ(result.outcome.error_type, "kind-failed");
  EXPECT_EQ(result.outcome.error_message, "no");
}

TEST(WorkerRunJob, AllocationFailureIsOutOfMemoryNotACrash) {
  kinds::KindRegistry registry;
  registry.add(cpu_kind(
      "hog", [](const nlohmann::json&, kinds::CpuContext&) -> kinds::Outcome { throw std::bad_alloc(); }));
  const auto result = exec::run_job(run_of("hog"), registry, {});
  EXPECT_FALSE(result.outcome.ok());
  EXPECT_EQ(result.outcome.error_type, "out-of-memory");
}

TEST(WorkerRunJob, OtherExceptionsAreInternalErrorsWithTheirMessage) {
  kinds::KindRegistry registry;
  registry.add(cpu_kind("oops", [](const nlohmann::json&, kinds::CpuContext&) -> kinds::Outcome {
    throw std::runtime_error("boom");
  }));
  const auto result = exec::run_job(run_of("oops"), registry, {});
  EXPECT_FALSE(result.outcome.ok());
  EXPECT_EQ(result.outcome.error_type, "internal");
  EXPECT_EQ(result.outcome.error_message, "boom");
}

TEST(WorkerRunJob, UnknownKindIsAnInternalError) {
  kinds::KindRegistry registry;
  const auto result = exec::run_job(run_of("missing"), registry, {});
  EXPECT_FALSE(result.outcome.ok());
  EXPECT_EQ(result.outcome.error_type, "internal");
  EXPECT_NE(result.outcome.error_message.find("missing"), std::string::npos);
}
