// JobTable's retention: finished jobs in eviction order, evicted by count, bytes and age; an
// evicted job's nodes are kept for the next jobs (recycle).
#include <cstddef>
#include <cstdint>
#include <utility>

#include "exec/sanitizer.hpp"
#include "jobs/job_table.hpp"

namespace jobd::jobs {
namespace {

// Whether `seq` is the first job of the table's map (jobs by seq).
template <class JobsMap>
bool first_is(const JobsMap& jobs, JobSeq seq) {
  return !jobs.empty() && jobs.begin()->first == seq;
}

// The map entry of a job being evicted. Eviction takes the oldest job nearly always: the map's
// first, found without a walk (and without a look in recent_, whose slot holds a newer job,
// out of cache).
template <class JobsMap>
auto locate_victim(JobsMap& jobs, JobSeq seq) {
  return first_is(jobs, seq) ? jobs.begin() : jobs.find(seq);
}

}  // namespace

std::uint64_t JobTable::retained_bytes_of(const Job& job) {
  std::uint64_t bytes = job.params.size() + job.result.size() + job.details.size() + job.attempts.size();
  if (job.idempotency_key) bytes += job.idempotency_key->size();
  if (job.error) bytes += job.error->type.size() + job.error->message.size();
  if (job.other_events) {
    for (const auto& event : *job.other_events) bytes += event.text.size();
  }
  return bytes;
}

void JobTable::push_finished(const Job& job) {
  const auto key = parse_job_id(job.id);
  finished_order_.push_back({job.seq, key.value_or(IdKey{}), key.has_value()});
}

void JobTable::evict_oldest_finished() {
  const Finished oldest = finished_order_.front();
  finished_order_.pop_front();
  evict(oldest.seq, true, &oldest);
  prefetch_next_victim();
}

void JobTable::prefetch_next_victim() const {
  if (finished_order_.empty()) return;
  const Finished& next = finished_order_.front();
  if (next.keyed) by_id_.prefetch(next.key);
  if (!first_is(jobs_, next.seq)) return;
  const auto* job = reinterpret_cast<const char*>(jobs_.begin()->second.get());
  for (std::size_t line = 0; line < sizeof(Job); line += 64) __builtin_prefetch(job + line);
}

std::size_t JobTable::evict_expired(Clock::time_point now) {
  std::size_t evicted = 0;
  while (!finished_order_.empty()) {
    auto oldest = locate_victim(jobs_, finished_order_.front().seq);
    if (oldest != jobs_.end() && *oldest->second->finished_at + limits_.retention > now) break;
    evict_oldest_finished();
    ++evicted;
  }
  return evicted;
}

void JobTable::evict(JobSeq seq, bool finished, const Finished* entry) {
  auto it = locate_victim(jobs_, seq);
  if (it == jobs_.end()) return;
  Job& job = *it->second;
  if (entry != nullptr) retained_bytes_ -= retained_bytes_of(job);
  const bool written = !insert_held(job);
  if (durable_) drop_pending(job);
  auto phase = extract_seq(index_of(job), seq);
  if (entry != nullptr && entry->keyed)
    by_id_.erase(entry->key);
  else
    by_id_.erase(job.id);
  if (job.idempotency_key) by_idempotency_key_.erase(*job.idempotency_key);
  observers_.erase(seq);
  if (recent_[seq % kRecent] == &job) recent_[seq % kRecent] = nullptr;
  recycle(jobs_.extract(it), std::move(phase));
  if (!durable_) return;
  if (finished) {
    store_->evict(seq);  // deferred: a finished job's row reads back as evictable (DESIGN)
    return;
  }
  // A discarded job never became final: a row of it left behind would come back queued.
  if (!written) return;  // a held insert: no row was written
  store::RowRef row;
  row.seq = seq;
  last_ticket_ = store_->write(store::ChangeOp::remove, row);
}

void JobTable::recycle(JobsMap::node_type job, SeqIndex::node_type phase) {
  // Under AddressSanitizer every evicted node is freed, so that a use after eviction is caught.
  if constexpr (exec::kAddressSanitizer) return;
  if (job && spare_jobs_.size() < kSpares) {
    // As a new Job, but for the id's buffer (32 characters: past the small-string buffer).
    Job& old = *job.mapped();
    Job fresh;
    fresh.id = std::move(old.id);
    old = std::move(fresh);
    spare_jobs_.push_back(std::move(job));
  }
  if (phase && spare_phases_.size() < kSpares) spare_phases_.push_back(std::move(phase));
}

}  // namespace jobd::jobs
