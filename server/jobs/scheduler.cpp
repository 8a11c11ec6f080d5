#include "jobs/scheduler.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "jobs/record.hpp"
#include "kinds/kind.hpp"

namespace jobd::jobs {

namespace asio = boost::asio;
using proto::Problem;
namespace problems = proto::problems;

Scheduler::Scheduler(asio::any_io_executor loop, JobTable& table, const kinds::KindRegistry& kinds,
                     SchedulerOptions options)
    : loop_(std::move(loop)),
      table_(table),
      kinds_(kinds),
      options_(options),
      deadline_timer_(loop_),
      due_timer_(loop_),
      blocked_timer_(loop_),
      hold_timer_(loop_) {}

Scheduler::~Scheduler() = default;

void Scheduler::add_executor(std::unique_ptr<exec::Executor> executor) {
  const auto index = static_cast<std::size_t>(executor->id());
  executors_[index] = std::move(executor);
}

exec::Executor* Scheduler::executor(proto::Executor id) const {
  return executors_[static_cast<std::size_t>(id)].get();
}

std::variant<Admission, Problem> Scheduler::admit(const proto::JobSpec& spec) const {
  return admit(spec, nullptr);
}

std::variant<Admission, Problem> Scheduler::admit(const proto::JobSpec& spec,
                                                  nlohmann::json* take_params) const {
  if (draining_) {
    return Problem{problems::draining, "jobd is shutting down and accepts no new jobs", std::nullopt,
                   options_.retry_after_s};
  }
  if (table_.durable()) {
    // Nothing is acknowledged that could not be committed: refuse until the store commits again.
    if (auto health = table_.store_health(); !health.ok) {
      return Problem{problems::store_unavailable, "jobs cannot be stored now: " + health.reason, std::nullopt,
                     options_.retry_after_s};
    }
  }
  const kinds::Kind* kind = kinds_.find(spec.kind);
  if (kind == nullptr) {
    return Problem{problems::unknown_kind, "no kind named '" + spec.kind + "' (see GET /v1/kinds)", "/kind",
                   std::nullopt};
  }
  const proto::Executor executor_id = spec.executor.value_or(kind->default_executor());
  exec::Executor* executor = this->executor(executor_id);
  if (!kind->allows(executor_id) || executor == nullptr) {
    std::string allowed;
    for (auto e : kind->executors) {
      if (this->executor(e)) allowed += (allowed.empty() ? "" : ", ") + std::string(proto::to_string(e));
    }
    return Problem{problems::executor_not_allowed, "kind '" + kind->name + "' runs on: " + allowed,
                   "/executor", std::nullopt};
  }
  auto validated = take_params ? proto::validate_params(kind->params, std::move(*take_params))
                               : proto::validate_params(kind->params, spec.params);
  if (auto* error = std::get_if<proto::ParamError>(&validated)) {
    return Problem{problems::invalid_params, error->message, error->pointer, std::nullopt};
  }
  const std::chrono::milliseconds timeout =
      spec.timeout_ms ? std::chrono::milliseconds(*spec.timeout_ms) : options_.default_timeout;
  if (timeout > options_.max_timeout) {
    return Problem{problems::invalid_request,
                   "must be <= " + std::to_string(options_.max_timeout.count()) + " (--max-timeout)",
                   "/timeout_ms", std::nullopt};
  }
  // When to run: at once, or held until run_at (a run_at in the past is at once).
  const auto now = Clock::now();
  std::optional<Clock::time_point> run_at;
  if (spec.delay_ms && *spec.delay_ms > 0) run_at = now + std::chrono::milliseconds(*spec.delay_ms);
  if (spec.run_at_ms) {
    // Compared in milliseconds first: RFC 3339 reaches years a nanosecond time_point cannot hold.
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    if (*spec.run_at_ms > now_ms + proto::kMaxDelayMs) {
      return Problem{problems::invalid_request, "must be at most 30 days ahead", "/run_at", std::nullopt};
    }
    if (*spec.run_at_ms > now_ms) run_at = Clock::time_point(std::chrono::milliseconds(*spec.run_at_ms));
  }
  const RunPlan plan{static_cast<std::uint32_t>(spec.max_attempts),
                     std::chrono::milliseconds(spec.retry_delay_ms), run_at};
  return Admission{kind, executor_id, std::get<nlohmann::json>(std::move(validated)), timeout, now, plan};
}

std::variant<Submitted, Problem> Scheduler::submit(proto::JobSpec spec, bool waits_for_end) {
  auto admitted = admit(spec, &spec.params);
  if (auto* problem = std::get_if<Problem>(&admitted)) return std::move(*problem);
  auto& [kind, executor_id, params, timeout, now, plan] = std::get<Admission>(admitted);
  const auto& run_at = plan.run_at;
  exec::Executor* executor = this->executor(executor_id);
  if (spec.idempotency_key) {
    // The same key names the same job: a retried submission must not run the work twice.
    if (const Job* earlier = table_.find_by_idempotency_key(*spec.idempotency_key)) {
      // Compared as values, as before params were kept as text (1 and 1.0 are the same
      // request): a replay is rare enough to parse the stored text back.
      // Attempts are part of the request; a delay is not compared (it counts from each submit).
      if (earlier->kind != kind || earlier->executor != executor_id ||
          earlier->max_attempts != static_cast<std::uint32_t>(spec.max_attempts) ||
          earlier->retry_delay.count() != spec.retry_delay_ms ||
          nlohmann::json::parse(earlier->params) != params) {
        return Problem{problems::idempotency_conflict,
                       "idempotency key was used for job " + earlier->id + " with another request",
                       "/idempotency_key", std::nullopt};
      }
      return Submitted{earlier, true};
    }
  }
  // A job that runs at once needs room now; a delayed one at dispatch (it waits here till then).
  if (!run_at && !executor->has_room()) {
    return Problem{problems::queue_full,
                   "the " + std::string(proto::to_string(executor_id)) +
                       " executor's queue is full (--queue-depth); retry later",
                   std::nullopt, options_.retry_after_s};
  }
  if (run_at && held_.size() >= options_.max_waiting) {
    return Problem{problems::queue_full,
                   "too many jobs wait for their time (--max-waiting-jobs); retry later", std::nullopt,
                   options_.retry_after_s};
  }
  // The record keeps the params as text, rendered once here; the executor gets the DOM itself.
  const bool held_insert = waits_for_end && table_.durable() && !run_at && !spec.idempotency_key &&
                           options_.insert_hold.count() > 0;
  const Job& job = table_.create(*kind, executor_id, to_json_text(params), timeout,
                                 std::move(spec.idempotency_key), now, plan, held_insert);
  if (held_insert) hold_insert(job.seq);
  if (run_at) {
    hold(job.seq, *run_at);
  } else {
    dispatch(job, std::move(params));
  }
  return Submitted{&job, false};
}

const Job* Scheduler::job_of(exec::JobSeq ticket) const {
  constexpr exec::JobSeq kSeqMask = (exec::JobSeq{1} << kAttemptShift) - 1;
  const Job* job = table_.get(ticket & kSeqMask);
  if (job == nullptr || ticket_seq(*job) != ticket) return nullptr;
  return job;
}

void Scheduler::dispatch(const Job& job, nlohmann::json params) {
  // The deadline covers this attempt: armed now, not at submission (a delayed job or a retry
  // would otherwise spend its timeout waiting).
  const auto deadline = arm_deadline(job);
  exec::JobTicket ticket{ticket_seq(job), job.id, job.kind, std::move(params), deadline, job.control};
  executor(job.executor)->submit(std::move(ticket));
}

namespace {
// The heap's order: the earliest deadline on top.
constexpr auto kLater = [](const auto& a, const auto& b) { return a.at > b.at; };
}  // namespace

std::chrono::steady_clock::time_point Scheduler::arm_deadline(const Job& job) {
  const auto at = std::chrono::steady_clock::now() + job.timeout;
  // Entries of finished attempts stay until they come due; past twice the jobs that can still
  // time out (and a floor), they are swept, so the heap stays in proportion to the active jobs.
  if (deadlines_.size() >= 2 * table_.counts().active + 1024) compact_deadlines();
  deadlines_.push_back({at, job.seq, job.attempt});
  std::push_heap(deadlines_.begin(), deadlines_.end(), kLater);
  if (!deadline_armed_ || at < *deadline_armed_) arm_deadline_timer(at);
  return at;
}

bool Scheduler::deadline_live(const Deadline& deadline) const {
  // The attempt it was armed for is still on its executor: not final (nor ended and waiting for
  // its commit), not retried since, not waiting here.
  const Job* job = table_.get(deadline.seq);
  return job != nullptr && !proto::is_final(job->state) && job->attempt == deadline.attempt &&
         !held_.contains(deadline.seq) && !table_.final_pending(*job);
}

void Scheduler::arm_deadline_timer(std::chrono::steady_clock::time_point at) {
  deadline_armed_ = at;
  // Re-arming cancels the pending wait, whose handler then sees operation_aborted.
  deadline_timer_.expires_at(at);
  deadline_timer_.async_wait([this](boost::system::error_code error) {
    if (!error) on_deadlines();
  });
}

void Scheduler::on_deadlines() {
  deadline_armed_.reset();
  const auto now = std::chrono::steady_clock::now();
  while (!deadlines_.empty() && deadlines_.front().at <= now) {
    std::pop_heap(deadlines_.begin(), deadlines_.end(), kLater);
    const Deadline due = deadlines_.back();
    deadlines_.pop_back();
    // Taken out first: stopping finishes the job at once on some executors, and what that
    // sets off may arm other deadlines.
    if (deadline_live(due)) stop(*table_.get(due.seq), exec::StopReason::timed_out);
  }
  // (What the stops set off may have armed the timer already, for a later deadline.)
  if (!deadlines_.empty() && (!deadline_armed_ || deadlines_.front().at < *deadline_armed_))
    arm_deadline_timer(deadlines_.front().at);
}

void Scheduler::compact_deadlines() {
  std::erase_if(deadlines_, [this](const Deadline& deadline) { return !deadline_live(deadline); });
  std::make_heap(deadlines_.begin(), deadlines_.end(), kLater);
}

std::variant<const Job*, Problem> Scheduler::cancel(std::string_view id) {
  const Job* job = table_.get(id);
  if (job == nullptr)
    return Problem{problems::job_not_found, "no job with that id", std::nullopt, std::nullopt};
  if (proto::is_final(job->state)) {
    return Problem{problems::job_finished, "job is already " + std::string(proto::to_string(job->state)),
                   std::nullopt, std::nullopt};
  }
  if (held_.erase(job->seq) == 1) {
    // Waiting here, in no executor: it never runs (again). Its timer may fire for nothing.
    due_.remove(job->seq);
    table_.finish(job->seq, exec::stopped_outcome(exec::StopReason::cancelled), Clock::now());
    if (attempt_ended_) attempt_ended_(*job, false);
    return job;
  }
  stop(*job, exec::StopReason::cancelled);
  return job;
}

void Scheduler::stop(const Job& job, exec::StopReason reason) {
  if (reason != exec::StopReason::timed_out) no_retry_.insert(job.seq);
  job.control->request_stop();
  if (exec::Executor* executor = this->executor(job.executor)) executor->stop(ticket_seq(job), reason);
}

void Scheduler::stop_all(exec::StopReason reason) {
  for (JobSeq seq : table_.active_jobs()) {
    if (held_.contains(seq)) continue;  // waiting: left queued (begin_drain)
    if (const Job* job = table_.get(seq); job && !proto::is_final(job->state)) stop(*job, reason);
  }
}

void Scheduler::shutdown_executors() {
  for (auto& executor : executors_) {
    if (executor) executor->shutdown();
  }
}

bool Scheduler::ready() const {
  if (draining_) return false;
  for (const auto& executor : executors_) {
    if (executor && !executor->ready()) return false;
  }
  return true;
}

asio::awaitable<std::optional<std::string>> Scheduler::wait_final(
    JobSeq seq, std::chrono::steady_clock::time_point until) {
  const Job* job = table_.get(seq);
  if (job == nullptr) co_return std::nullopt;
  if (proto::is_final(job->state)) co_return render_record(*job);
  std::optional<std::string> record;
  asio::steady_timer timer(loop_, until);
  // The observer wakes this coroutine by cancelling its timer; it is removed before the
  // coroutine (and the timer) can go away.
  const WatchId watch = table_.watch(seq, [&timer, &record](const Job& done, const JobEvent& event) {
    if (event.type != EventType::state || !proto::is_final(event.state)) return;
    record = render_record(done);
    timer.cancel();
  });
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  table_.unwatch(seq, watch);
  co_return record;
}

// What executors report is dropped when it is about an attempt that is no longer the job's.
void Scheduler::on_started(JobSeq ticket, nlohmann::json details) {
  if (const Job* job = job_of(ticket)) table_.start(job->seq, std::move(details), Clock::now());
}

void Scheduler::on_progress(JobSeq ticket, double fraction, std::string text) {
  if (const Job* job = job_of(ticket)) table_.progress(job->seq, fraction, std::move(text));
}

void Scheduler::on_output(JobSeq ticket, exec::OutputStream stream, std::string_view line) {
  const Job* job = job_of(ticket);
  if (job == nullptr) return;
  table_.output(job->seq,
                stream == exec::OutputStream::stdout_stream ? EventType::stdout_line : EventType::stderr_line,
                std::string(line));
}

void Scheduler::on_finished(JobSeq ticket, exec::Outcome outcome) {
  const Job* job = job_of(ticket);
  if (job == nullptr) return;
  const proto::Executor freed = job->executor;
  finish_or_retry(*job, std::move(outcome));
  // The deadline's entry is left in the heap (dead now); when no job can time out any more,
  // none is needed. The timer is left armed: cancelling it and arming it again for the next
  // job would cost a one-at-a-time client what a timer per job did; it fires once for nothing.
  if (!deadlines_.empty() && table_.counts().active == 0) deadlines_.clear();
  // A slot of that executor is free: jobs due but blocked on it go first (on the next turn, not
  // inside the executor's own call).
  if (!blocked_[static_cast<std::size_t>(freed)].empty()) {
    boost::asio::post(loop_, [this, freed] { dispatch_blocked(freed); });
  }
}

}  // namespace jobd::jobs
