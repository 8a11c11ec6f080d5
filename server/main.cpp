// jobd: flags → config → kinds → fork server → app.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <spdlog/spdlog.h>

#include "app/app.hpp"
#include "app/logging.hpp"
#include "app/malloc_tuning.hpp"
#include "config/config.hpp"
#include "exec/process/fork_server.hpp"
#include "kinds/kind.hpp"
#include "kinds/testing/test_kinds.hpp"

namespace {

// Room a worker needs beyond the address space it is born with, for its own buffers and a job.
constexpr std::uint64_t kWorkerHeadroom = std::uint64_t{16} << 20;

// This process's address-space size (VmSize), which a worker, a fork of it, starts with.
std::uint64_t own_address_space() {
  std::uint64_t pages = 0;
  std::ifstream("/proc/self/statm") >> pages;
  return pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

int main(int argc, char** argv) {
  // First: it may re-execute jobd (app/malloc_tuning.hpp).
  const jobd::app::MallocTuning malloc_tuning = jobd::app::tune_malloc(argv);
  auto parsed = jobd::config::parse_command_line(argc, argv);
  if (const int* exit_code = std::get_if<int>(&parsed)) return *exit_code;
  const auto& config = std::get<jobd::config::Config>(parsed);
  // The kinds workers and the app know; the fault-injection kinds only on request.
  jobd::kinds::KindRegistry kinds;
  jobd::kinds::register_builtin_kinds(kinds);
  if (config.test_kinds) jobd::kinds::testing::register_test_kinds(kinds);
  // The fork server must be forked while jobd has one thread (exec/process/fork_server.hpp): here,
  // before logging and the app start anything.
  std::unique_ptr<jobd::exec::ForkServer> fork_server;
  if (config.workers > 0 && jobd::exec::ForkServer::memory_limit_enforced()) {
    // A limit below what a worker is born with would leave the pool starting workers that die
    // before their hello, for ever, and process jobs waiting until they time out.
    const std::uint64_t needed = own_address_space() + kWorkerHeadroom;
    if (config.worker_memory < needed) {
      std::fprintf(
          stderr,
          "jobd: --worker-memory %llu MiB is too small: a worker starts with %llu MiB of address space "
          "(a fork of jobd) and needs room for its jobs; use at least %llu MiB\n",
          static_cast<unsigned long long>(config.worker_memory >> 20),
          static_cast<unsigned long long>(own_address_space() >> 20),
          static_cast<unsigned long long>(needed >> 20) + 1);
      return 2;
    }
  }
  if (config.workers > 0) {
    try {
      fork_server =
          jobd::exec::ForkServer::start({{config.worker_memory, config.worker_cpu, config.worker_files},
                                         jobd::app::sched_policy(config.worker_policy),
                                         std::chrono::microseconds(config.worker_yield_us)},
                                        kinds);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "jobd: cannot start the worker fork server: %s\n", e.what());
      return 1;
    }
  }
  jobd::app::setup_logging(config.log_level, config.log_format);
  using MallocOutcome = jobd::app::MallocTuning::Outcome;
  if (malloc_tuning.outcome == MallocOutcome::tuned) spdlog::debug("{}", malloc_tuning.message);
  if (malloc_tuning.outcome == MallocOutcome::failed) spdlog::warn("{}", malloc_tuning.message);
  return jobd::app::run(config, kinds, std::move(fork_server));
}
