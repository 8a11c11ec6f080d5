#include "jobs/scheduler.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "jobs/record.hpp"
#include "kinds/kind.hpp"

namespace jobd::jobs {

namespace asio = boost::asio;
using proto::Problem;
namespace problems = proto::problems;

Scheduler::Scheduler(asio::any_io_executor loop, JobTable& table, const kinds::KindRegistry& kinds,
                     SchedulerOptions options)
    : loop_(std::move(loop)), table_(table), kinds_(kinds), options_(options) {}

Scheduler::~Scheduler() = default;

void Scheduler::add_executor(std::unique_ptr<exec::Executor> executor) {
  const auto index = static_cast<std::size_t>(executor->id());
  executors_[index] = std::move(executor);
}

exec::Executor* Scheduler::executor(proto::Executor id) const {
  return executors_[static_cast<std::size_t>(id)].get();
}

std::variant<Submitted, Problem> Scheduler::submit(proto::JobSpec spec) {
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
  auto validated = proto::validate_params(kind->params, spec.params);
  if (auto* error = std::get_if<proto::ParamError>(&validated)) {
    return Problem{problems::invalid_params, error->message, error->pointer, std::nullopt};
  }
  auto params = std::get<nlohmann::json>(std::move(validated));
  const std::chrono::milliseconds timeout =
      spec.timeout_ms ? std::chrono::milliseconds(*spec.timeout_ms) : options_.default_timeout;
  if (timeout > options_.max_timeout) {
    return Problem{problems::invalid_request,
                   "must be <= " + std::to_string(options_.max_timeout.count()) + " (--max-timeout)",
                   "/timeout_ms", std::nullopt};
  }
  if (spec.idempotency_key) {
    // The same key names the same job: a retried submission must not run the work twice.
    if (const Job* earlier = table_.find_by_idempotency_key(*spec.idempotency_key)) {
      // Compared as values, as before params were kept as text (1 and 1.0 are the same
      // request): a replay is rare enough to parse the stored text back.
      if (earlier->kind != kind || earlier->executor != executor_id ||
          nlohmann::json::parse(earlier->params) != params) {
        return Problem{problems::idempotency_conflict,
                       "idempotency key was used for job " + earlier->id + " with another request",
                       "/idempotency_key", std::nullopt};
      }
      return Submitted{earlier, true};
    }
  }
  if (!executor->has_room()) {
    return Problem{problems::queue_full,
                   "the " + std::string(proto::to_string(executor_id)) +
                       " executor's queue is full (--queue-depth); retry later",
                   std::nullopt, options_.retry_after_s};
  }
  // The record keeps the params as text, rendered once here; the executor gets the DOM itself.
  const Job& job = table_.create(*kind, executor_id, to_json_text(params), timeout,
                                 std::move(spec.idempotency_key), Clock::now());
  arm_deadline(job, timeout);
  exec::JobTicket ticket{
      job.seq, job.id, kind, std::move(params), std::chrono::steady_clock::now() + timeout, job.control};
  executor->submit(std::move(ticket));
  return Submitted{&job, false};
}

void Scheduler::arm_deadline(const Job& job, std::chrono::milliseconds after) {
  auto [it, inserted] = deadlines_.try_emplace(job.seq, loop_, after);
  it->second.async_wait([this, seq = job.seq](boost::system::error_code error) {
    if (error) return;  // cancelled: the job finished first
    deadlines_.erase(seq);
    if (const Job* expired = table_.get(seq); expired && !proto::is_final(expired->state)) {
      stop(*expired, exec::StopReason::timed_out);
    }
  });
}

std::variant<const Job*, Problem> Scheduler::cancel(std::string_view id) {
  const Job* job = table_.get(id);
  if (job == nullptr)
    return Problem{problems::job_not_found, "no job with that id", std::nullopt, std::nullopt};
  if (proto::is_final(job->state)) {
    return Problem{problems::job_finished, "job is already " + std::string(proto::to_string(job->state)),
                   std::nullopt, std::nullopt};
  }
  stop(*job, exec::StopReason::cancelled);
  return job;
}

void Scheduler::stop(const Job& job, exec::StopReason reason) {
  job.control->stop.request_stop();
  if (exec::Executor* executor = this->executor(job.executor)) executor->stop(job.seq, reason);
}

void Scheduler::stop_all(exec::StopReason reason) {
  for (JobSeq seq : table_.active_jobs()) {
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

asio::awaitable<bool> Scheduler::wait_for_table(const std::function<void(std::function<void()>)>& subscribe) {
  // The table's callback wakes this coroutine by cancelling its timer. Both are shared with the
  // callback, which may run after this coroutine ended (cancelled when its client left).
  auto timer = std::make_shared<asio::steady_timer>(loop_, std::chrono::steady_clock::time_point::max());
  auto done = std::make_shared<bool>(false);
  subscribe([timer, done] {
    *done = true;
    timer->cancel();
  });
  if (*done) co_return true;
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  co_return *done;
}

asio::awaitable<bool> Scheduler::wait_committed(JobSeq seq) {
  if (table_.committed(seq)) co_return true;
  // Named, not a temporary in the co_await (GCC 12, DESIGN §9 rule 2).
  const std::function<void(std::function<void()>)> subscribe = [this, seq](std::function<void()> done) {
    table_.when_committed(seq, std::move(done));
  };
  const bool committed = co_await wait_for_table(subscribe);
  co_return committed;
}

asio::awaitable<bool> Scheduler::wait_final_applied(JobSeq seq) {
  if (!table_.final_pending(seq)) co_return true;
  const std::function<void(std::function<void()>)> subscribe = [this, seq](std::function<void()> done) {
    table_.when_final_applied(seq, std::move(done));
  };
  const bool applied = co_await wait_for_table(subscribe);
  co_return applied;
}

Scheduler::Resubmitted Scheduler::resubmit(const Job& job, Clock::time_point now) {
  const JobSeq seq = job.seq;
  exec::Executor* executor = this->executor(job.executor);
  if (executor == nullptr || !job.kind->allows(job.executor)) {
    table_.finish(
        seq,
        exec::Outcome::failure(proto::job_error::internal, "jobd restarted without the " +
                                                               std::string(proto::to_string(job.executor)) +
                                                               " executor this job was queued on"),
        now);
    return Resubmitted::failed;
  }
  // The deadline counts from submission, across the restart too.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(job.created_at + job.timeout - now);
  if (left.count() <= 0) {
    table_.finish(
        seq,
        exec::Outcome::failure(proto::job_error::timed_out, "its deadline passed while jobd was stopped",
                               proto::JobState::timed_out),
        now);
    return Resubmitted::timed_out;
  }
  if (!executor->has_room()) {  // only when restarted with a smaller --queue-depth
    table_.finish(
        seq,
        exec::Outcome::failure(proto::job_error::internal,
                               "the " + std::string(proto::to_string(job.executor)) +
                                   " executor's queue was full when jobd restarted (--queue-depth)"),
        now);
    return Resubmitted::failed;
  }
  auto params = nlohmann::json::parse(job.params);
  arm_deadline(job, left);
  executor->submit(exec::JobTicket{seq, job.id, job.kind, std::move(params),
                                   std::chrono::steady_clock::now() + left, job.control});
  return Resubmitted::queued;
}

void Scheduler::on_started(JobSeq seq, nlohmann::json details) {
  table_.start(seq, std::move(details), Clock::now());
}

void Scheduler::on_progress(JobSeq seq, double fraction, std::string text) {
  table_.progress(seq, fraction, std::move(text));
}

void Scheduler::on_output(JobSeq seq, exec::OutputStream stream, std::string_view line) {
  table_.output(seq,
                stream == exec::OutputStream::stdout_stream ? EventType::stdout_line : EventType::stderr_line,
                std::string(line));
}

void Scheduler::on_finished(JobSeq seq, exec::Outcome outcome) {
  deadlines_.erase(seq);  // cancels a pending deadline wait
  table_.finish(seq, std::move(outcome), Clock::now());
}

}  // namespace jobd::jobs
