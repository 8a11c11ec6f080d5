// The scheduler's waiting jobs: retries after their backoff and delayed jobs (scheduler.hpp says
// how they wait; jobs/retry_policy.hpp what retries and how long it waits).
#include <boost/asio/post.hpp>

#include "jobs/scheduler.hpp"

namespace jobd::jobs {

void Scheduler::finish_or_retry(const Job& job, exec::Outcome outcome) {
  const JobSeq seq = job.seq;
  const bool stopped = no_retry_.erase(seq) == 1;  // cancelled or shut down: never retried
  const auto now = Clock::now();
  if (attempt_ended_) {
    // A shared store retries: the attempt ends here, and the store is told whether it may.
    const bool retry = !stopped && job.attempt < job.max_attempts && is_retryable(outcome);
    table_.finish(seq, std::move(outcome), now);
    if (const Job* ended = table_.get(seq)) attempt_ended_(*ended, retry);
    return;
  }
  if (!stopped && job.attempt < job.max_attempts && is_retryable(outcome)) {
    const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
    const auto delay = backoff_delay(job.retry_delay, job.attempt, options_.retry_max_delay, unit);
    if (table_.retry(seq, outcome, now + delay, now)) {
      hold(seq, now + delay);
      return;
    }
  }
  table_.finish(seq, std::move(outcome), now);
}

void Scheduler::resume(const Job& job) {
  if (held_.contains(job.seq)) return;
  if (job.state == proto::JobState::running) {
    auto outcome = proto::Outcome::failure(proto::job_error::interrupted, "jobd stopped while the job ran");
    finish_or_retry(job, std::move(outcome));
    return;
  }
  if (job.state != proto::JobState::queued) return;
  hold(job.seq, job.run_at.value_or(Clock::now()));
}

void Scheduler::hold(JobSeq seq, Clock::time_point due) {
  held_.insert(seq);
  if (due_.push(seq, due)) arm_due_timer();  // the new earliest: the timer must move
}

void Scheduler::arm_due_timer() {
  const auto earliest = due_.earliest();
  if (!earliest || draining_) {
    due_timer_.cancel();
    return;
  }
  // The queue is keyed by wall-clock time (run_at is); the wait runs on the steady clock.
  const auto wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(*earliest - Clock::now());
  // Re-arming cancels the pending wait, whose handler then sees operation_aborted.
  due_timer_.expires_after(std::max(wait, std::chrono::steady_clock::duration::zero()));
  due_timer_.async_wait([this](boost::system::error_code error) {
    if (!error) on_due();
  });
}

void Scheduler::on_due() {
  if (draining_) return;  // waiting jobs stay queued for the next start
  const auto now = Clock::now();
  while (auto seq = due_.pop_due(now)) {
    const Job* job = table_.get(*seq);
    if (job == nullptr || proto::is_final(job->state)) {
      held_.erase(*seq);
      continue;
    }
    auto& blocked = blocked_[static_cast<std::size_t>(job->executor)];
    // Jobs already blocked on that executor were due first: a newly due one goes behind them.
    if (!blocked.empty() || !try_dispatch_held(*seq)) {
      blocked.push_back(*seq);
      arm_blocked_timer();
    }
  }
  arm_due_timer();
}

bool Scheduler::try_dispatch_held(JobSeq seq) {
  const Job* job = table_.get(seq);
  if (job == nullptr || proto::is_final(job->state) || !held_.contains(seq)) {
    held_.erase(seq);
    return true;  // nothing to dispatch: gone or cancelled
  }
  exec::Executor* executor = this->executor(job->executor);
  if (executor == nullptr) {
    // Recovered for an executor this start does not run (only resume() can bring one).
    held_.erase(seq);
    auto outcome = proto::Outcome::failure(proto::job_error::internal, "its executor is not available");
    table_.finish(seq, std::move(outcome), Clock::now());
    return true;
  }
  if (!executor->has_room()) return false;
  held_.erase(seq);
  // The params DOM went to the first dispatch; a waiting job parses its own text back (a
  // retry or a delayed job is rare next to the jobs that run at once).
  auto params = job->params.empty() ? nlohmann::json::object() : nlohmann::json::parse(job->params);
  dispatch(*job, std::move(params));
  return true;
}

void Scheduler::dispatch_blocked(proto::Executor id) {
  if (draining_) return;
  auto& blocked = blocked_[static_cast<std::size_t>(id)];
  while (!blocked.empty()) {
    if (!try_dispatch_held(blocked.front())) return;
    blocked.pop_front();
  }
}

void Scheduler::arm_blocked_timer() {
  if (blocked_timer_armed_) return;
  blocked_timer_armed_ = true;
  blocked_timer_.expires_after(kBlockedRetry);
  blocked_timer_.async_wait([this](boost::system::error_code error) {
    if (error) return;  // only at destruction: nothing else cancels this timer
    blocked_timer_armed_ = false;
    if (draining_) return;
    bool still_blocked = false;
    for (auto id : proto::kAllExecutors) {
      dispatch_blocked(id);
      still_blocked = still_blocked || !blocked_[static_cast<std::size_t>(id)].empty();
    }
    if (still_blocked) arm_blocked_timer();
  });
}

}  // namespace jobd::jobs
