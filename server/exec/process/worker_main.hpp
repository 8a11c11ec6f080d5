// The worker process's program: read a RUN frame, run the kind's run_on_cpu from the same
// KindRegistry as jobd's thread pool, write PROGRESS and RESULT frames, repeat until jobd
// closes the socket. Single-threaded and deliberately simple: all supervision (limits that
// need a kill, deadlines, cancellation, replacement) is jobd's (exec/process/worker_slots.hpp),
// which kills this process's whole group when a job must end early.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "jobd/proto/frame.hpp"
#include "kinds/kind.hpp"

namespace jobd::exec {

// Runs one job in this process and says how it ended. Pure apart from the kind itself:
// an allocation failure becomes error type `out-of-memory`, any other exception `internal`,
// an unknown kind `internal`. `progress` receives the kind's reports (already rate-limited);
// the kind's checkpoints yield the CPU every `yield_every` (CpuContext::yield_every).
proto::Result run_job(const proto::Run& run, const kinds::KindRegistry& kinds,
                      const kinds::ProgressFn& progress,
                      std::chrono::microseconds yield_every = std::chrono::microseconds{0});

// Serves jobs on `fd` (the frame socket) until EOF. `cpu_seconds_per_job` > 0 re-arms the soft
// RLIMIT_CPU before every job so that each job, not the worker's lifetime, gets that many CPU
// seconds (the kernel then sends SIGXCPU and jobd reports the death). Returns the process exit
// code: 0 on EOF, non-zero on a protocol or I/O error. `yield_every` as for run_job.
int run_worker(int fd, const kinds::KindRegistry& kinds, std::uint64_t cpu_seconds_per_job,
               std::chrono::microseconds yield_every = std::chrono::microseconds{0});

}  // namespace jobd::exec
