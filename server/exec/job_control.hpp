// What the loop thread and the thread running a job share about that job. Everything here
// is thread-safe by construction (stop_source, atomics); job state itself is not here: it
// lives in the JobTable, on the loop thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <stop_token>

namespace jobd::exec {

struct JobControl {
  // Requested by the loop on cancel, timeout or shutdown; polled by cooperative kinds.
  std::stop_source stop;
  // Wall-clock start in ns since the epoch, set by whoever starts the job; 0 = not started.
  // Lets the loop show a thread job as running without a hand-off per start.
  std::atomic<std::int64_t> started_ns{0};
  // Set by the loop while someone listens to this job's events, so that executors skip
  // progress hand-offs nobody would read.
  std::atomic<bool> wants_progress{false};
};

}  // namespace jobd::exec
