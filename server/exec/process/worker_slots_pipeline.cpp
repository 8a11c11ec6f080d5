// WorkerSlots' pipeline (--worker-pipeline): jobs sent ahead to busy workers, started when the
// worker reaches them, and put back in the queue when it dies or is killed (worker_slots.hpp).
#include "exec/process/worker_slots.hpp"

namespace jobd::exec {

// While jobs wait and no worker is idle, each busy worker that still counts (not on its last job
// before recycling) is sent jobs ahead, up to the pipeline, the least loaded first: a worker then
// goes from one job to the next without a round trip through the loop, and one write carries a
// turn's jobs (bench/RESULTS.md, stop 28). O(workers) per job sent ahead.
void WorkerSlots::send_ahead(Actions& out, TimePoint now) {
  if (options_.pipeline <= 1) return;
  while (!queue_.empty()) {
    Slot* least = nullptr;
    for (auto& [id, slot] : slots_) {
      if (slot.state != State::busy || !slot.counted || slot.ahead.size() + 1 >= options_.pipeline) continue;
      if (least == nullptr || slot.ahead.size() < least->ahead.size()) least = &slot;
    }
    if (least == nullptr) return;
    JobTicket ticket = std::move(queue_.front());
    queue_.pop_front();
    running_[ticket.seq] = least->id;
    ++ahead_;
    send_run(out, *least, ticket, ticket.params, now);  // a copy: the ticket may go back to the queue
    least->ahead.push_back(AheadJob{std::move(ticket)});
  }
}

// The worker finished its job: it is already running the next one sent ahead, if any.
void WorkerSlots::start_next(Actions& out, Slot& slot, TimePoint now) {
  if (slot.ahead.empty()) {
    make_idle(out, slot, now);
    return;
  }
  AheadJob next = std::move(slot.ahead.front());
  slot.ahead.pop_front();
  if (next.withdrawn) {  // stopped while it waited: it runs now, and only a kill ends it
    ++kills_;
    kill(out, slot, now);
    return;
  }
  --ahead_;
  slot.job = RunningJob{next.ticket.seq, next.ticket.job_id, next.ticket.control};
  out.emplace_back(ReportStarted{next.ticket.seq, slot.pid});
  send_ahead(out, now);
}

// A worker that dies or is killed never started the jobs sent ahead of it: they go back to the
// front of the queue in their order, to the idle workers first.
void WorkerSlots::requeue_ahead(Actions& out, Slot& slot, TimePoint now) {
  for (auto it = slot.ahead.rbegin(); it != slot.ahead.rend(); ++it) {
    if (it->withdrawn) continue;  // finished when it was stopped
    --ahead_;
    running_.erase(it->ticket.seq);
    queue_.push_front(std::move(it->ticket));
  }
  slot.ahead.clear();
  while (!queue_.empty() && !idle_.empty()) {
    Slot& idle = slots_.at(idle_.back());
    idle_.pop_back();
    JobTicket ticket = std::move(queue_.front());
    queue_.pop_front();
    run_on(out, idle, std::move(ticket), now);
  }
  send_ahead(out, now);
}

}  // namespace jobd::exec
