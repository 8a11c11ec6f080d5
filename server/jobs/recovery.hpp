// Recovery: the jobs a durable store kept, back into the table before jobd listens (issue 13).
//
// Finished jobs are kept as they were (retention evicts them later, as usual); queued jobs go
// back to their executor with what is left of their deadline; jobs that were running when jobd
// stopped become failed with error type `interrupted` (their work may be half done; nothing can
// tell). A job whose kind is no longer registered, or whose executor is gone, fails with a
// message saying so. Ids, seqs (list order, cursors) and idempotency keys come back as stored;
// new seqs continue after the highest ever handed out. The failures are written to the store
// like any transition. Start-up only, on the thread that will run the loop.
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
  std::uint64_t queued = 0;       // handed to their executor again
  std::uint64_t interrupted = 0;  // were running: failed, `interrupted`
  std::uint64_t finished = 0;     // kept as they were
  std::uint64_t timed_out = 0;    // were queued, and their deadline passed while jobd was stopped
  std::uint64_t failed = 0;       // their kind or executor is gone
  std::chrono::milliseconds took{0};
  std::string error;  // empty: recovered; else one line (a row the store could not read)

  std::uint64_t total() const { return queued + interrupted + finished + timed_out + failed; }
};

// Loads every stored job into the scheduler's table. `unknown_kinds` receives a stand-in for
// each kind name no longer registered (a job points at its kind): it must outlive the table.
RecoveryReport recover_jobs(store::JobStore& store, Scheduler& scheduler, const kinds::KindRegistry& kinds,
                            std::deque<kinds::Kind>& unknown_kinds, Clock::time_point now);

}  // namespace jobd::jobs
