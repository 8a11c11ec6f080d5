// What the loop thread and the thread running a job share about that job. Everything other
// threads read here is thread-safe by construction (stop_source, atomics); job state itself is
// not here: it lives in the JobTable, on the loop thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <stop_token>

namespace jobd::exec {

struct JobControl {
  // Requested by the loop on cancel, timeout or shutdown (request_stop); polled by cooperative
  // kinds through its tokens. Its shared state is an allocation, and only thread jobs poll it:
  // it is made by prepare_stop (ThreadExecutor::submit, on the loop, before the job leaves the
  // loop thread), which carries over a request made before; without it, a request is only
  // noted. Once made it is never replaced: other threads may hold it or its tokens.
  std::stop_source stop{std::nostopstate};
  // Wall-clock start in ns since the epoch, set by whoever starts the job; 0 = not started.
  // Lets the loop show a thread job as running without a hand-off per start.
  std::atomic<std::int64_t> started_ns{0};
  // Set by the job table while someone streams this job's events: executors then hand over
  // progress reports and the start as it happens.
  std::atomic<bool> watched{false};
  // The job table's count of streams that follow every job's state (GET /v1/events); they
  // must see a start when it happens too. Null in tests that build a ticket by hand.
  const std::atomic<std::uint32_t>* all_watchers = nullptr;

  // Loop thread.
  void request_stop() noexcept {
    stop_asked = true;
    stop.request_stop();
  }
  // Loop thread, before any other thread reads `stop`.
  std::stop_source& prepare_stop() {
    if (!stop.stop_possible()) {
      stop = std::stop_source();
      if (stop_asked) stop.request_stop();
    }
    return stop;
  }
  bool stop_asked = false;  // by request_stop; loop thread only

  // Whether progress reports have a reader now (GET /v1/events shows states only).
  bool wants_progress() const noexcept { return watched.load(std::memory_order_relaxed); }
  // Whether a start has a reader now. When it has none, a thread job's start
  // travels with its result: one hand-off instead of two.
  bool live() const noexcept {
    return watched.load(std::memory_order_relaxed) ||
           (all_watchers != nullptr && all_watchers->load(std::memory_order_relaxed) > 0);
  }
};

}  // namespace jobd::exec
