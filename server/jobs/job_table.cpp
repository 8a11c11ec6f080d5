#include "jobs/job_table.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "jobs/job_rows.hpp"
#include "jobs/record.hpp"
#include "kinds/kind.hpp"

namespace jobd::jobs {

JobTable::JobTable(RetentionLimits limits, store::JobStore* store)
    : limits_(limits), store_(store), durable_(store != nullptr && store->durable()) {
  if (durable_) store_->set_durable_listener([this](store::Ticket through) { on_durable(through); });
}

const Job& JobTable::create(const kinds::Kind& kind, proto::Executor executor, std::string params,
                            std::chrono::milliseconds timeout, std::optional<std::string> idempotency_key,
                            Clock::time_point now, RunPlan plan, bool hold_insert) {
  // An evicted job's node, reset, when there is one (its id's buffer kept): see recycle().
  JobsMap::node_type node;
  if (!spare_jobs_.empty()) {
    node = std::move(spare_jobs_.back());
    spare_jobs_.pop_back();
  }
  std::unique_ptr<Job> fresh = node ? nullptr : std::make_unique<Job>();
  Job* job = node ? node.mapped().get() : fresh.get();
  job->seq = next_seq_++;
  make_job_id(job->id);
  job->kind = &kind;
  job->executor = executor;
  job->params = std::move(params);
  job->timeout = timeout;
  job->created_at = now;
  job->idempotency_key = std::move(idempotency_key);
  job->max_attempts = std::max<std::uint32_t>(plan.max_attempts, 1);
  job->retry_delay = plan.retry_delay;
  job->run_at = plan.run_at;
  job->control = std::make_shared<exec::JobControl>();
  job->control->all_watchers = &live_streams_;
  Job& ref = *job;
  by_id_.insert(ref.id, &ref);
  // The next job's id is drawn already: its slot is loaded while this job runs.
  if (const auto next = next_job_id_key()) by_id_.prefetch(*next);
  if (ref.idempotency_key) by_idempotency_key_.emplace(*ref.idempotency_key, &ref);
  // Seqs only grow: each goes last.
  if (node) {
    node.key() = ref.seq;
    jobs_.insert(jobs_.end(), std::move(node));
  } else {
    jobs_.emplace_hint(jobs_.end(), ref.seq, std::move(fresh));
  }
  remember(ref);
  SeqIndex& phase = index_of(ref);
  if (!spare_phases_.empty()) {
    auto phase_node = std::move(spare_phases_.back());
    spare_phases_.pop_back();
    phase_node.value() = ref.seq;
    phase.insert(phase.end(), std::move(phase_node));
  } else {
    phase.insert(phase.end(), ref.seq);
  }
  if (durable_ && hold_insert) {
    ref.insert_ticket = kHeldInsert;  // written with its final state (finish) or on release
  } else if (durable_) {
    // Listed once committed: list() skips it until then, its submitter waits (when_committed).
    const store::Ticket ticket = last_ticket_ = store_->write(store::ChangeOp::insert, insert_ref(ref));
    ref.insert_ticket = ticket;
    pending_by_ticket_.push_back({ticket, &ref, false});
  }
  publish(ref, JobEvent{.type = EventType::state, .state = proto::JobState::queued, .at = now});
  return ref;
}

void JobTable::discard(JobSeq seq) { evict(seq, false); }

Job* JobTable::find(JobSeq seq) {
  // (The table owns its jobs: only its const view of them is const.)
  return const_cast<Job*>(std::as_const(*this).get(seq));
}

const Job* JobTable::get(JobSeq seq) const {
  if (const Job* recent = recent_[seq % kRecent]; recent != nullptr && recent->seq == seq) return recent;
  auto it = jobs_.find(seq);
  return it == jobs_.end() ? nullptr : it->second.get();
}

const Job* JobTable::get(std::string_view id) const { return by_id_.find(id); }

const Job* JobTable::find_by_idempotency_key(std::string_view key) const {
  auto it = by_idempotency_key_.find(key);
  return it == by_idempotency_key_.end() ? nullptr : it->second;
}

void JobTable::set_running(Job& job, Clock::time_point at) {
  job.state = proto::JobState::running;
  if (!job.started_at) job.started_at = at;
  publish(job, JobEvent{.type = EventType::state, .state = job.state, .at = *job.started_at});
}

namespace {
// Executor fields join the job's: a start's (worker_pid, pid), then its outcome's. Stored as
// text (one form for the renderer and a durable store); merging a second set parses the first
// back, which only process and subprocess jobs do, once, on a few bytes. nullopt: no change.
std::optional<DetailsText> merged_details(const Job& job, nlohmann::json details) {
  if (!details.is_object() || details.empty()) return std::nullopt;
  if (!job.details.empty()) {
    auto merged = nlohmann::json::parse(job.details);
    for (auto& [key, value] : details.items()) merged[key] = std::move(value);
    details = std::move(merged);
  }
  return to_details_text(details);
}
}  // namespace

void JobTable::start(JobSeq seq, nlohmann::json details, Clock::time_point now) {
  Job* job = find(seq);
  if (job == nullptr || job->state != proto::JobState::queued) return;
  if (auto merged = merged_details(*job, std::move(details))) {
    job->details = std::move(merged->text);
    job->details_brief_end = merged->brief_end;
  }
  job->run_at.reset();
  set_running(*job, job->visible_started_at().value_or(now));
  // A held insert will carry the start: nothing to write yet.
  if (durable_ && !insert_held(*job)) write_update(*job);
}

void JobTable::progress(JobSeq seq, double fraction, std::string text) {
  Job* job = find(seq);
  if (job == nullptr || proto::is_final(job->state)) return;
  job->progress = fraction;
  if (job->event_subscribers == 0) return;
  publish(
      *job,
      JobEvent{
          .type = EventType::progress, .at = Clock::now(), .fraction = fraction, .text = std::move(text)});
}

void JobTable::output(JobSeq seq, EventType stream, std::string line) {
  Job* job = find(seq);
  if (job == nullptr || proto::is_final(job->state)) return;
  publish(*job, JobEvent{.type = stream, .at = Clock::now(), .text = std::move(line)});
}

bool JobTable::finish(JobSeq seq, proto::Outcome outcome, Clock::time_point now) {
  Job* found = find(seq);
  if (found == nullptr || proto::is_final(found->state) || !proto::is_final(outcome.state)) return false;
  if (final_pending(*found)) return false;  // final already, not yet committed
  Job& job = *found;
  // A start nobody was told about (it travelled with the result) is published first, at the
  // time it happened, so every reader of the history sees queued -> running -> final.
  if (job.state == proto::JobState::queued) {
    if (auto started = job.visible_started_at()) set_running(job, *started);
  }
  FinalState final = final_state(job, std::move(outcome), now);
  if (!durable_) {
    apply_final(job, std::move(final));
    return true;
  }
  // Shown once committed: until then the job reads as it did (jobs/job_table_store.cpp).
  if (insert_held(job)) {
    release_insert(job, &final);  // one row, final: its insert and final settle together
    final.ticket = job.insert_ticket;
  } else {
    final.ticket = last_ticket_ = store_->write(store::ChangeOp::update, update_ref(job, &final));
  }
  hold_final(job, std::move(final));
  return true;
}

FinalState JobTable::final_state(Job& job, proto::Outcome outcome, Clock::time_point now) const {
  FinalState final{.state = outcome.state, .at = now};
  if (auto merged = merged_details(job, std::move(outcome.details))) {
    final.details = std::move(merged->text);
    final.details_brief_end = merged->brief_end;
  }
  if (outcome.ok()) {
    final.result = to_json_text(outcome.result);
  } else {
    final.error = std::make_unique<const JobError>(
        JobError{std::move(outcome.error_type), std::move(outcome.error_message)});
  }
  return final;
}

void JobTable::apply_final(Job& job, FinalState final) {
  if (final.details) {
    job.details = std::move(*final.details);
    job.details_brief_end = final.details_brief_end;
  }
  // The set's node moves to the final phase's set: no free and allocation per job. Jobs end
  // nearly in seq order, so the end is the hint: a final set of 100,000 jobs is then not walked
  // from its root (a cache miss per level), and a hint that is wrong costs only the walk.
  auto node = extract_seq(index_of(job), job.seq);
  job.state = final.state;
  SeqIndex& finals = index_of(job);
  if (node) {
    finals.insert(finals.end(), std::move(node));
  } else {
    finals.insert(finals.end(), job.seq);
  }
  job.result = std::move(final.result);
  job.error = std::move(final.error);
  job.finished_at = final.at;
  job.run_at.reset();
  publish(job, JobEvent{.type = EventType::state, .state = job.state, .at = final.at});
  observers_.erase(job.seq);  // a final job changes no more
  push_finished(job);
  retained_bytes_ += retained_bytes_of(job);  // after the last event: fixed from here on
  job.control.reset();  // nor runs: the executor keeps its own reference while it needs one
  // The newest finished job is always kept: its waiters have read it, but a GET right after
  // the answer must find it too.
  while (finished_order_.size() > limits_.max_finished ||
         (retained_bytes_ > limits_.max_retained_bytes && finished_order_.size() > 1)) {
    evict_oldest_finished();
  }
}

JobTable::Phase JobTable::phase_of(proto::JobState state) {
  switch (state) {
    case proto::JobState::queued:
    case proto::JobState::running: return Phase::active;
    case proto::JobState::succeeded: return Phase::succeeded;
    case proto::JobState::failed: return Phase::failed;
    case proto::JobState::cancelled: return Phase::cancelled;
    case proto::JobState::timed_out: return Phase::timed_out;
  }
  return Phase::active;
}

JobTable::SeqIndex::node_type JobTable::extract_seq(SeqIndex& set, JobSeq seq) {
  // The oldest of a set (eviction's, and a short active set's) is taken without a walk.
  if (!set.empty() && *set.begin() == seq) return set.extract(set.begin());
  return set.extract(seq);
}

JobTable::SeqIndex& JobTable::index_of(const Job& job) {
  return index_[job.kind][static_cast<std::size_t>(phase_of(job.state))];
}

ListPage JobTable::list(const ListFilter& filter) const {
  // A merge, newest first, of the index sets the filter selects (a kind's phases, a phase of
  // every kind, or one set): each step takes the largest head. Sets are few (kinds x phases).
  struct Head {
    SeqIndex::const_reverse_iterator next, end;
  };
  std::vector<Head> heads;
  for (const auto& [kind, phases] : index_) {
    if (filter.kind && kind->name != *filter.kind) continue;
    for (std::size_t phase = 0; phase < kPhases; ++phase) {
      if (filter.state && phase_of(*filter.state) != static_cast<Phase>(phase)) continue;
      const SeqIndex& set = phases[phase];
      auto start =
          filter.before ? SeqIndex::const_reverse_iterator(set.lower_bound(*filter.before)) : set.rbegin();
      if (start != set.rend()) heads.push_back({start, set.rend()});
    }
  }
  ListPage page;
  for (;;) {
    Head* newest = nullptr;
    for (auto& head : heads) {
      if (head.next != head.end && (newest == nullptr || *head.next > *newest->next)) newest = &head;
    }
    if (newest == nullptr) break;
    const Job& job = *jobs_.at(*newest->next);
    ++newest->next;
    if (!committed(job)) continue;  // its submitter has not been answered yet
    // Queued and running share a set: tell them apart as a reader sees them.
    if (filter.state && job.visible_state() != *filter.state) continue;
    if (page.jobs.size() == filter.limit) {
      page.next_cursor = page.jobs.back()->seq;
      break;
    }
    page.jobs.push_back(&job);
  }
  return page;
}

std::vector<JobSeq> JobTable::active_jobs() const {
  std::vector<JobSeq> active;
  for (const auto& [kind, phases] : index_) {
    const SeqIndex& set = phases[static_cast<std::size_t>(Phase::active)];
    active.insert(active.end(), set.begin(), set.end());
  }
  std::sort(active.begin(), active.end());
  return active;
}

void JobTable::publish(Job& job, JobEvent event) {
  event.id = job.next_event_id++;
  // The history keeps the newest event_history events: a state event is implied by the job's
  // own fields (Job::history), any other is stored.
  if (job.next_event_id > limits_.event_history + 1)
    job.first_kept_event = job.next_event_id - limits_.event_history;
  // State events are implied by the job's fields, except the queued event of a retry (the
  // first queued event is always id 1): that one is stored like progress.
  const bool state =
      event.type == EventType::state && (event.id == 1 || event.state != proto::JobState::queued);
  // What observers see: the stored copy when the event was moved into the history (the
  // pruning below keeps it: it is the newest).
  const JobEvent* stored = &event;
  if (state) {
    if (event.state == proto::JobState::running) job.running_event = event.id;
    if (proto::is_final(event.state)) job.final_event = event.id;
  } else {
    if (!job.other_events) job.other_events = std::make_unique<std::deque<JobEvent>>();
    stored = &job.other_events->emplace_back(std::move(event));
  }
  if (job.other_events) {
    auto& others = *job.other_events;
    while (!others.empty() && others.front().id < job.first_kept_event) others.pop_front();
  }
  const JobEvent& published = *stored;
  if (auto it = observers_.find(job.seq); it != observers_.end()) {
    // Observers may unwatch (or watch) while being called: iterate over a copy, inline for up
    // to two watchers (a std::function of a few pointers is copied without an allocation).
    const boost::container::small_vector<Watcher, 2> watchers(it->second.begin(), it->second.end());
    for (const auto& watcher : watchers) {
      if (watcher.what == Watch::events || published.type == EventType::state)
        watcher.observer(job, published);
    }
  }
  if (published.type == EventType::state && !global_observers_.empty()) notify_all(job, published);
}

JobCounts JobTable::counts() const {
  return {jobs_.size(), jobs_.size() - finished_order_.size(), finished_order_.size()};
}

}  // namespace jobd::jobs
