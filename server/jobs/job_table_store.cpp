// The job table's side of the store seam: waiting for commits, applying a final state once
// its commit completed, and taking the stored jobs back at start-up (jobs/recovery.hpp drives
// that). Loop thread, or start-up before the loop serves.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "jobs/job_rows.hpp"
#include "jobs/job_table.hpp"
#include "jobs/record.hpp"

namespace jobd::jobs {

JobTable::~JobTable() {
  // The store outlives the table; a completion still queued must not reach a destroyed one.
  if (durable_) store_->set_durable_listener({});
}

// Once per committed batch, before the store's when_durable callbacks of that batch: settles
// the pending inserts and finals it holds, in ticket order, then wakes the waits on them.
void JobTable::on_durable(store::Ticket through) {
  while (!pending_by_ticket_.empty() && pending_by_ticket_.front().ticket <= through) {
    const Pending pending = pending_by_ticket_.front();
    pending_by_ticket_.pop_front();
    if (pending.job == nullptr) continue;  // it left the table before this commit
    if (pending.final)
      apply_pending_final(*pending.job);
    else {
      pending.job->insert_ticket = 0;
      announce(*pending.job);
    }
  }
  commit_waiters_.wake_through(through);
}

const Job* JobTable::awaiting_insert(JobSeq seq) const {
  const Job* job = durable_ ? get(seq) : nullptr;
  return job != nullptr && !committed(*job) ? job : nullptr;
}

const Job* JobTable::awaiting_final(JobSeq seq) const {
  const Job* job = durable_ ? get(seq) : nullptr;
  return job != nullptr && final_pending(*job) ? job : nullptr;
}

bool JobTable::committed(JobSeq seq) const { return awaiting_insert(seq) == nullptr; }

bool JobTable::final_pending(JobSeq seq) const { return awaiting_final(seq) != nullptr; }

void JobTable::release_insert(Job& job, const FinalState* final) {
  const store::Ticket ticket = last_ticket_ = store_->write(store::ChangeOp::insert, insert_ref(job, final));
  job.insert_ticket = ticket;
  pending_by_ticket_.push_back({ticket, &job, false});
}

bool JobTable::release_insert(JobSeq seq) {
  Job* job = durable_ ? find(seq) : nullptr;
  if (job == nullptr || !insert_held(*job)) return false;
  release_insert(*job);
  return true;
}

bool JobTable::wait_committed(JobSeq seq, CommitWaiters::Waiter& waiter) {
  release_insert(seq);  // whoever waits for the insert ends its hold
  const Job* job = awaiting_insert(seq);
  if (job == nullptr) return false;
  commit_waiters_.add(waiter, job->insert_ticket);
  return true;
}

bool JobTable::wait_final_applied(JobSeq seq, CommitWaiters::Waiter& waiter) {
  const Job* job = awaiting_final(seq);
  if (job == nullptr) return false;
  commit_waiters_.add(waiter, final_slots_[job->final_slot - 1].ticket);
  return true;
}

store::StoreHealth JobTable::store_health() const { return store_ ? store_->health() : store::StoreHealth{}; }

void JobTable::when_committed(JobSeq seq, std::function<void()> done) {
  release_insert(seq);  // whoever waits for the insert ends its hold
  const Job* job = awaiting_insert(seq);
  if (job == nullptr) {
    done();
    return;
  }
  store_->when_durable(job->insert_ticket, std::move(done));
}

void JobTable::when_final_applied(JobSeq seq, std::function<void()> done) {
  const Job* job = awaiting_final(seq);
  if (job == nullptr) {
    done();
    return;
  }
  // The table settles a batch (on_durable) before the store runs its callbacks: this one runs
  // after the final is applied.
  store_->when_durable(final_slots_[job->final_slot - 1].ticket, std::move(done));
}

void JobTable::when_all_committed(std::function<void()> done) {
  if (!durable_) {
    done();
    return;
  }
  store_->when_durable(last_ticket_, std::move(done));
}

void JobTable::write_update(const Job& job) {
  last_ticket_ = store_->write(store::ChangeOp::update, update_ref(job));
}

void JobTable::hold_final(Job& job, FinalState final) {
  const store::Ticket ticket = final.ticket;
  if (free_final_slots_.empty()) {
    final_slots_.push_back(std::move(final));
    job.final_slot = static_cast<std::uint32_t>(final_slots_.size());
  } else {
    job.final_slot = free_final_slots_.back() + 1;
    free_final_slots_.pop_back();
    final_slots_[job.final_slot - 1] = std::move(final);
  }
  pending_by_ticket_.push_back({ticket, &job, true});
}

void JobTable::apply_pending_final(Job& job) {
  const std::uint32_t slot = job.final_slot - 1;
  FinalState final = std::move(final_slots_[slot]);
  free_final_slots_.push_back(slot);
  job.final_slot = 0;  // no longer pending for whoever apply_final wakes
  apply_final(job, std::move(final));
}

void JobTable::drop_pending(Job& job) {
  // Pending entries are in ticket order: each of this job's is found by a binary search.
  const auto forget = [this, &job](store::Ticket ticket) {
    auto it = std::lower_bound(pending_by_ticket_.begin(), pending_by_ticket_.end(), ticket,
                               [](const Pending& pending, store::Ticket t) { return pending.ticket < t; });
    // A held insert and its final share one ticket: both entries go.
    for (; it != pending_by_ticket_.end() && it->ticket == ticket; ++it) {
      if (it->job == &job) it->job = nullptr;
    }
  };
  if (job.insert_ticket != 0) forget(std::exchange(job.insert_ticket, 0));
  if (job.final_slot != 0) {
    const std::uint32_t slot = std::exchange(job.final_slot, 0) - 1;
    forget(final_slots_[slot].ticket);
    final_slots_[slot] = FinalState{};  // its result and error go with the job
    free_final_slots_.push_back(slot);
  }
}

const Job& JobTable::restore(store::JobRow& row, const kinds::Kind& kind) {
  // A file with jobs usually holds about as many as the limits keep: size the id index once
  // rather than growing it ~17 times on the way to a million. Up to 1 M ids (48 MiB of slots
  // at most, made at once even for a small file); past that, each doubling is one sequential
  // pass over the slots.
  if (jobs_.empty()) by_id_.reserve(std::min<std::size_t>(limits_.max_finished, std::size_t{1} << 20));
  auto job = std::make_unique<Job>();
  job->seq = row.seq;
  job->id = std::move(row.id);
  job->kind = &kind;
  job->executor = row.executor;
  job->params = std::move(row.params_json);
  job->idempotency_key = std::move(row.idempotency_key);
  job->timeout = std::chrono::milliseconds(row.timeout_ms);
  job->created_at = from_unix_ms(row.created_at_ms);
  job->max_attempts = std::max<std::uint32_t>(row.max_attempts, 1);
  job->retry_delay = std::chrono::milliseconds(row.retry_delay_ms);
  job->attempt = std::max<std::uint32_t>(row.attempt, 1);
  job->attempts = std::move(row.attempts_json);
  if (row.run_at_ms) job->run_at = from_unix_ms(*row.run_at_ms);
  if (row.started_at_ms) job->started_at = from_unix_ms(*row.started_at_ms);
  job->state = row.state;
  // The events a reader can replay: queued (1), running, final; progress and output are not kept.
  job->next_event_id = 2;
  if (job->started_at) job->running_event = job->next_event_id++;
  if (!job->started_at && job->state == proto::JobState::running) job->state = proto::JobState::queued;
  if (!row.details_json.empty()) {
    // The stored text is the table's own rendering; parsed once to find where its numbers end.
    auto details = to_details_text(nlohmann::json::parse(row.details_json, nullptr, false));
    job->details = std::move(details.text);
    job->details_brief_end = details.brief_end;
  }
  if (proto::is_final(job->state)) {
    job->finished_at = from_unix_ms(row.finished_at_ms.value_or(row.created_at_ms));
    job->final_event = job->next_event_id++;
    job->result = std::move(row.result_json);
    if (!row.error_type.empty() || !row.error_message.empty()) {
      job->error =
          std::make_unique<const JobError>(JobError{std::move(row.error_type), std::move(row.error_message)});
    }
  } else {
    job->control = std::make_shared<exec::JobControl>();
    job->control->all_watchers = &live_streams_;
  }
  Job& ref = *job;
  by_id_.insert(ref.id, &ref);
  if (ref.idempotency_key) by_idempotency_key_.emplace(*ref.idempotency_key, &ref);
  SeqIndex& index = index_of(ref);
  index.insert(index.end(), ref.seq);  // rows come in seq order
  jobs_.emplace_hint(jobs_.end(), ref.seq, std::move(job));
  remember(ref);
  if (proto::is_final(ref.state)) retained_bytes_ += retained_bytes_of(ref);
  return ref;
}

void JobTable::end_restore(JobSeq max_seq) {
  next_seq_ = std::max(next_seq_, max_seq + 1);
  // Finished jobs leave by finish time (retention, then the limits), not by seq.
  std::vector<std::pair<Clock::time_point, const Job*>> finished;
  for (const auto& [seq, job] : jobs_) {
    if (proto::is_final(job->state)) finished.emplace_back(*job->finished_at, job.get());
  }
  std::stable_sort(finished.begin(), finished.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  finished_order_.clear();
  for (const auto& entry : finished) push_finished(*entry.second);
  while (finished_order_.size() > limits_.max_finished ||
         (retained_bytes_ > limits_.max_retained_bytes && finished_order_.size() > 1)) {
    evict_oldest_finished();
  }
}

}  // namespace jobd::jobs
