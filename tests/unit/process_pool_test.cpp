// The sans-I/O parts of the process executor: how a worker's end reads in a job's error, and
// how the worker turns a RUN frame into a RESULT (exceptions included), without a process.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <new>
#include <stdexcept>

#include "exec/process_pool.hpp"
#include "exec/worker_main.hpp"
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

TEST(DescribeWorkerExit, NamesTheSignalByNumberAndName) {
  const exec::WorkerLimits limits;
  EXPECT_EQ(exec::describe_worker_exit(CLD_KILLED, SIGSEGV, limits), "worker killed by signal 11 (SIGSEGV)");
  EXPECT_EQ(exec::describe_worker_exit(CLD_DUMPED, SIGABRT, limits), "worker killed by signal 6 (SIGABRT)");
  EXPECT_EQ(exec::describe_worker_exit(CLD_KILLED, SIGKILL, limits), "worker killed by signal 9 (SIGKILL)");
}

TEST(DescribeWorkerExit, GivesTheExitStatus) {
  EXPECT_EQ(exec::describe_worker_exit(CLD_EXITED, 3, {}), "worker exited with status 3");
}

TEST(DescribeWorkerExit, ExplainsSigxcpuByTheCpuLimit) {
  exec::WorkerLimits limits;
  limits.cpu_seconds = 2;
  EXPECT_EQ(exec::describe_worker_exit(CLD_KILLED, SIGXCPU, limits),
            "worker killed by signal 24 (SIGXCPU): CPU time limit of 2 s per job (--worker-cpu)");
}

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
