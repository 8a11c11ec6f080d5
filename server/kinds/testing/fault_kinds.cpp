// Fault-injection kinds for the `process` executor, registered only with --test-kinds. They let
// tests prove that a worker's death costs only its own job: `crash` dies by a signal, `exit`
// exits, `alloc` runs into the worker's address-space limit. Allowed on `process` only: on the
// thread pool each of them would take jobd down with it.
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "kinds/testing/test_kinds.hpp"

namespace jobd::kinds::testing {

// Largest `alloc` request: far above any sane --worker-memory, so the limit is what stops it.
inline constexpr std::int64_t kMaxAllocMb = 1 << 20;
// Touch one byte per page so the memory is really committed, not only reserved.
inline constexpr std::size_t kPageSize = 4096;

Kind make_crash_kind() {
  Kind kind;
  kind.name = "crash";
  kind.description = "Raises `signal` in the worker process (test kind).";
  kind.params.params = {{.name = "signal",
                         .type = proto::ParamType::integer,
                         .description = "signal number, e.g. 11 (SIGSEGV), 6 (SIGABRT), 9 (SIGKILL)",
                         .default_value = SIGSEGV,
                         .minimum = 1,
                         .maximum = 31}};
  kind.executors = {proto::Executor::process};
  kind.cancellation = "kill";
  kind.test_only = true;
  kind.run_on_cpu = [](const nlohmann::json& params, CpuContext&) {
    const int signo = params.at("signal").get<int>();
    // Back to the default action, so that the signal kills even if something caught it.
    std::signal(signo, SIG_DFL);
    std::raise(signo);
    // Signals whose default is to be ignored (SIGCHLD, SIGURG, SIGWINCH) come back here.
    return Outcome::failure(proto::job_error::kind_failed,
                            "signal " + std::to_string(signo) + " did not end the worker");
  };
  return kind;
}

Kind make_exit_kind() {
  Kind kind;
  kind.name = "exit";
  kind.description = "Ends the worker process with exit status `code` (test kind).";
  kind.params.params = {
      {.name = "code", .type = proto::ParamType::integer, .default_value = 1, .minimum = 0, .maximum = 255}};
  kind.executors = {proto::Executor::process};
  kind.cancellation = "kill";
  kind.test_only = true;
  kind.run_on_cpu = [](const nlohmann::json& params, CpuContext&) -> Outcome {
    const int code = params.at("code").get<int>();
    // A last word on stderr, which jobd logs with the worker's pid (tests look for it).
    std::fprintf(stderr, "exit kind: exiting with status %d\n", code);
    std::fflush(nullptr);
    ::_exit(code);
  };
  return kind;
}

Kind make_alloc_kind() {
  Kind kind;
  kind.name = "alloc";
  kind.description = "Allocates `mb` MiB and touches every page (test kind).";
  kind.params.params = {{.name = "mb",
                         .type = proto::ParamType::integer,
                         .required = true,
                         .minimum = 1,
                         .maximum = static_cast<double>(kMaxAllocMb)}};
  kind.executors = {proto::Executor::process};
  kind.cancellation = "kill";
  kind.test_only = true;
  kind.run_on_cpu = [](const nlohmann::json& params, CpuContext&) {
    const auto mb = params.at("mb").get<std::int64_t>();
    const auto bytes = static_cast<std::size_t>(mb) << 20;
    // Throws std::bad_alloc beyond the worker's RLIMIT_AS; the worker reports out-of-memory.
    std::unique_ptr<char[]> block(new char[bytes]);
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < bytes; i += kPageSize) {
      block[i] = static_cast<char>(i / kPageSize);
      sum += static_cast<unsigned char>(block[i]);
    }
    return Outcome::success({{"allocated_mb", mb}, {"checksum", sum}});
  };
  return kind;
}

}  // namespace jobd::kinds::testing
