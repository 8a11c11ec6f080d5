// JobTable::retry, the transition of a failed attempt back to queued (jobs/retry_policy.hpp
// decides whether it may; the scheduler decides when). Kept apart from job_table.cpp: it is the
// one transition that takes a job backwards, and what it must reset is easiest to check here.
#include <algorithm>

#include "jobs/job_table.hpp"
#include "jobs/record.hpp"

namespace jobd::jobs {

namespace {
// One earlier attempt as the record shows it (`attempts`), appended to the array text.
void append_attempt(std::string& attempts, const Job& job, const proto::Outcome& outcome,
                    std::optional<Clock::time_point> started_at, Clock::time_point now) {
  std::string entry = "{\"attempt\":" + std::to_string(job.attempt) + ",\"type\":";
  append_json_string(entry, outcome.error_type);
  entry += ",\"message\":";
  append_json_string(entry, outcome.error_message);
  if (started_at) {
    entry += ",\"started_at\":\"";
    append_rfc3339(entry, *started_at);
    entry += '"';
  }
  entry += ",\"finished_at\":\"";
  append_rfc3339(entry, now);
  entry += "\"}";
  if (attempts.empty()) {
    attempts = "[" + entry + "]";
  } else {
    attempts.pop_back();  // the closing bracket
    attempts += ',';
    attempts += entry;
    attempts += ']';
  }
}
}  // namespace

bool JobTable::retry(JobSeq seq, const proto::Outcome& outcome, Clock::time_point run_at,
                     Clock::time_point now) {
  Job* found = find(seq);
  if (found == nullptr || proto::is_final(found->state) || outcome.ok() ||
      found->attempt >= found->max_attempts) {
    return false;
  }
  if (final_pending(*found)) return false;  // final already, not yet committed
  Job& job = *found;
  // As in finish: a start that travelled with the result is published first.
  if (job.state == proto::JobState::queued) {
    if (auto started = job.visible_started_at()) set_running(job, *started);
  }
  const auto started_at = job.started_at;
  append_attempt(job.attempts, job, outcome, started_at, now);
  // The running event of this attempt is implied by running_event and started_at, which the
  // next attempt reuses: store it with the other events, in id order, so the history keeps it.
  if (job.running_event != 0 && started_at && job.running_event >= job.first_kept_event) {
    if (!job.other_events) job.other_events = std::make_unique<std::deque<JobEvent>>();
    auto& others = *job.other_events;
    const auto position = std::find_if(others.begin(), others.end(),
                                       [&](const JobEvent& event) { return event.id > job.running_event; });
    others.insert(position, JobEvent{.id = job.running_event,
                                     .type = EventType::state,
                                     .state = proto::JobState::running,
                                     .at = *started_at});
  }
  job.running_event = 0;
  job.started_at.reset();
  job.progress = 0.0;
  job.details.clear();
  job.details_brief_end = 0;
  ++job.attempt;
  job.run_at = run_at;
  // A fresh control: the old one may be stopped (a timeout) and carries the old start.
  auto control = std::make_shared<exec::JobControl>();
  control->all_watchers = &live_streams_;
  control->watched.store(job.event_subscribers > 0, std::memory_order_relaxed);
  job.control = std::move(control);
  job.state = proto::JobState::queued;  // listed as before: queued and running share a phase
  publish(job, JobEvent{.type = EventType::state, .state = proto::JobState::queued, .at = now});
  // Kept like any transition; not gated: the job is not final, and a crash before the commit
  // only replays the attempt's end at recovery (running -> interrupted -> retried).
  if (durable_ && insert_held(job)) {
    release_insert(job);  // the row as it is now: queued for its next attempt
  } else if (durable_) {
    write_update(job);
  }
  return true;
}

}  // namespace jobd::jobs
