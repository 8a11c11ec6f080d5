// jobd: flags → config → kinds → fork server → app.
#include <cstdio>

#include "app/app.hpp"
#include "app/logging.hpp"
#include "config/config.hpp"
#include "exec/process/fork_server.hpp"
#include "kinds/kind.hpp"
#include "kinds/testing/test_kinds.hpp"

int main(int argc, char** argv) {
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
  if (config.workers > 0) {
    try {
      fork_server = jobd::exec::ForkServer::start(
          {{config.worker_memory, config.worker_cpu, config.worker_files}}, kinds);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "jobd: cannot start the worker fork server: %s\n", e.what());
      return 1;
    }
  }
  jobd::app::setup_logging(config.log_level, config.log_format);
  return jobd::app::run(config, kinds, std::move(fork_server));
}
