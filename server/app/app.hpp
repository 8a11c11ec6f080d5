// App: wires the loop, the job table, the executors, the API and the listener, and maps
// signals to the lifecycle (DESIGN §5): SIGTERM/SIGINT drain, a second signal exits at once.
#pragma once

#include <memory>

#include "config/config.hpp"

namespace jobd::exec {
class ForkServer;
}

namespace jobd::app {

// Runs jobd until it is stopped; returns the process exit code. `fork_server`, started by
// main() before any thread, feeds the process executor; without it there is none.
int run(const config::Config& config, std::unique_ptr<exec::ForkServer> fork_server = nullptr);

}  // namespace jobd::app
