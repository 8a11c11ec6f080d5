#include "exec/thread/thread_executor.hpp"

#include <boost/asio/post.hpp>
#include <exception>

#include "kinds/kind.hpp"

namespace jobd::exec {

namespace asio = boost::asio;

namespace {
// Fewer progress hand-offs than this interval apart are dropped: a kind may report as often as
// it likes without flooding the loop.
constexpr auto kProgressInterval = std::chrono::milliseconds(50);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

ThreadExecutor::ThreadExecutor(asio::any_io_executor loop, JobSink& sink, ThreadPoolOptions options)
    : loop_(std::move(loop)), sink_(sink), yield_every_(options.yield_every), pool_(options) {}

ThreadExecutor::~ThreadExecutor() { pool_.shutdown(); }

void ThreadExecutor::submit(JobTicket ticket) {
  const JobSeq seq = ticket.seq;
  active_.insert(seq);
  ticket.control->prepare_stop();  // the task polls it: made here, on the loop (job_control.hpp)
  // Runs on a pool thread: touches only the ticket it owns and its JobControl.
  auto task = [this, seq, ticket = std::move(ticket)]() mutable {
    const auto& control = ticket.control;
    if (control->stop.stop_requested()) return;  // cancelled while queued: never runs
    control->started_ns.store(now_ns(), std::memory_order_relaxed);
    // A start somebody watches is handed over now; otherwise it travels with the result (the
    // table publishes it first), saving a cross-thread post per job.
    if (control->live()) asio::post(loop_, [this, seq] { sink_.on_started(seq, nullptr); });
    auto last_report = std::chrono::steady_clock::time_point{};
    kinds::CpuContext ctx{control->stop.get_token(), [&](double fraction, std::string_view text) {
                            if (!control->wants_progress()) return;
                            const auto now = std::chrono::steady_clock::now();
                            if (now - last_report < kProgressInterval) return;
                            last_report = now;
                            asio::post(loop_, [this, seq, fraction, text = std::string(text)]() mutable {
                              sink_.on_progress(seq, fraction, std::move(text));
                            });
                          }};
    ctx.yield_every = yield_every_;
    Outcome outcome;
    try {
      outcome = ticket.kind->run_on_cpu(ticket.params, ctx);
    } catch (...) {
      outcome = proto::outcome_from_exception(std::current_exception());
    }
    if (ctx.yields != 0) cpu_yields_.fetch_add(ctx.yields, std::memory_order_relaxed);
    asio::post(loop_, [this, seq, outcome = std::move(outcome)]() mutable {
      if (active_.erase(seq) == 1) sink_.on_finished(seq, std::move(outcome));
    });
  };
  if (!pool_.try_push(std::move(task))) {
    // has_room() said yes on this same thread just before, and only pool threads shrink the
    // queue; a refusal means the pool is shutting down.
    active_.erase(seq);
    Outcome outcome = stopped_outcome(StopReason::shutdown);
    sink_.on_finished(seq, std::move(outcome));
  }
}

void ThreadExecutor::stop(JobSeq seq, StopReason reason) {
  if (active_.erase(seq) == 0) return;
  // The JobControl is shared with the task; the scheduler requested stop on it already, but an
  // executor must not rely on that.
  sink_.on_finished(seq, stopped_outcome(reason));
}

ExecutorStats ThreadExecutor::stats() const {
  return {.queued = pool_.queued(),
          .running = pool_.busy(),
          .capacity = pool_.capacity() + pool_.threads(),
          .workers = pool_.threads(),
          .cpu_yields = cpu_yields_.load(std::memory_order_relaxed)};
}

}  // namespace jobd::exec
