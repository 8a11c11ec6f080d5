// Recovery: the jobs a durable store kept, back into the table before jobd listens (issue 13).
//
// Finished jobs are kept as they were (retention evicts them later, as usual); queued jobs are
// due again (now, or at their run_at: a delayed job or one waiting to retry), with a fresh
// deadline for their attempt; a job that was running when jobd stopped ends that attempt as
// `interrupted` (its work may be half done; nothing can tell), retried with backoff while
// attempts remain, else failed. A job whose kind is no longer registered, or whose executor is gone, fails
// with a message saying so. Ids, seqs (list order, cursors) and idempotency keys come back as stored; new
// seqs continue after the highest ever handed out. The failures are written to the store like any transition.
// Start-up only, on the thread that will run the loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

#include "jobs/job.hpp"
#include "kinds/kind.hpp"
#include "store/job_store.hpp"

namespace jobd::jobs {

class Scheduler;

struct RecoveryReport {
  std::uint64_t queued = 0;       // due again now or at their run_at
  std::uint64_t interrupted = 0;  // were running, no attempt left: failed, `interrupted`
  std::uint64_t retried = 0;      // were running: that attempt `interrupted`, the next one waits
  std::uint64_t finished = 0;     // kept as they were
  std::uint64_t failed = 0;       // their kind or executor is gone
  std::chrono::milliseconds took{0};
  std::string error;  // empty: recovered; else one line (a row the store could not read)

  std::uint64_t total() const { return queued + interrupted + retried + finished + failed; }
};

// Loads every stored job into the scheduler's table. `unknown_kinds` receives a stand-in for
// each kind name no longer registered (a job points at its kind): it must outlive the table.
RecoveryReport recover_jobs(store::JobStore& store, Scheduler& scheduler, const kinds::KindRegistry& kinds,
                            std::deque<kinds::Kind>& unknown_kinds, Clock::time_point now);

}  // namespace jobd::jobs
