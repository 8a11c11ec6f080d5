// App: wires the loop, the job table, the executors, the API and the listener, and maps
// signals to the lifecycle (DESIGN §5): SIGTERM/SIGINT drain, a second signal exits at once.
#pragma once

#include "config/config.hpp"

namespace jobd::app {

// Runs jobd until it is stopped; returns the process exit code.
int run(const config::Config& config);

}  // namespace jobd::app
