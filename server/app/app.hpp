// App: wires the loop, the job table, the executors, the API and the listener, and maps
// signals to the lifecycle (DESIGN §5): SIGTERM/SIGINT drain, a second signal exits at once.
#pragma once

#include <memory>

#include "config/config.hpp"

namespace jobd::exec {
class ForkServer;
}
namespace jobd::kinds {
class KindRegistry;
}

namespace jobd::app {

// Runs jobd until it is stopped; returns the process exit code. `kinds` holds the built-in (and
// test) kinds; the subprocess kinds of --config are added to it here. `fork_server`, started by
// main() before any thread, feeds the process executor; without it there is none.
int run(const config::Config& config, kinds::KindRegistry& kinds,
        std::unique_ptr<exec::ForkServer> fork_server = nullptr);

// The Linux scheduling policy (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE) of a --thread-policy or
// --worker-policy.
int sched_policy(config::CpuPolicy policy);

}  // namespace jobd::app
