#include <sched.h>

#include "kinds/kind.hpp"

namespace jobd::kinds {

namespace {
// Per thread, not per job: a thread running short jobs back to back holds the CPU as one long
// job would. Zero until the thread's first checkpoint, which starts its clock.
thread_local std::chrono::steady_clock::time_point next_yield{};
}  // namespace

bool CpuContext::checkpoint() {
  if (yield_every.count() > 0) {
    const auto now = std::chrono::steady_clock::now();
    if (next_yield == std::chrono::steady_clock::time_point{}) {
      next_yield = now + yield_every;
    } else if (now >= next_yield) {
      sched_yield();
      ++yields;
      next_yield = now + yield_every;
    }
  }
  return stop.stop_requested();
}

}  // namespace jobd::kinds
