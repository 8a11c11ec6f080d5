// Jobs a shared store (cluster/) hands to this replica: adopted into the table to run here, and
// forgotten once the store has their attempt's end (reads of a finished job go to the store).
#include <algorithm>

#include "jobs/scheduler.hpp"

namespace jobd::jobs {

const Job& Scheduler::adopt(store::JobRow& row, const kinds::Kind& kind) {
  // Queued, like a recovered job: resume() dispatches it through the due queue on the loop's
  // next turn (executor admission and the attempt's deadline as for any due job).
  row.state = proto::JobState::queued;
  row.started_at_ms.reset();
  row.run_at_ms.reset();
  const Job& job = table_.restore(row, kind);
  resume(job);
  return job;
}

void JobTable::forget(JobSeq seq) {
  const Job* job = get(seq);
  if (job == nullptr) return;
  if (proto::is_final(job->state)) {
    // Usually the newest finished job: searched from the back.
    const auto it = std::find_if(finished_order_.rbegin(), finished_order_.rend(),
                                 [seq](const Finished& entry) { return entry.seq == seq; });
    if (it != finished_order_.rend()) {
      retained_bytes_ -= retained_bytes_of(*job);
      finished_order_.erase(std::next(it).base());
    }
  }
  evict(seq, false);  // as before: forget() is not only for jobs whose final state is committed
}

}  // namespace jobd::jobs
