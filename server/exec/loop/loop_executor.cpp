#include "exec/loop/loop_executor.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <exception>

#include "exec/sanitizer.hpp"
#include "kinds/kind.hpp"

namespace jobd::exec {

namespace asio = boost::asio;

LoopExecutor::LoopExecutor(asio::any_io_executor loop, JobSink& sink, std::size_t capacity,
                           std::function<void(std::string_view)> on_activity)
    : loop_(std::move(loop)), sink_(sink), capacity_(capacity), on_activity_(std::move(on_activity)) {}

void LoopExecutor::submit(JobTicket ticket) {
  if (ticket.kind->run_inline) {
    submit_inline(std::move(ticket));
    return;
  }
  const JobSeq seq = ticket.seq;
  Running& running = add_running(seq)->second;
  running.owner = this;
  running.seq = seq;
  running.control = std::move(ticket.control);
  kinds::LoopContext ctx{loop_, {}};
  if (running.control) {
    // One pointer: std::function keeps it inline (a shared_ptr captured with it was allocated).
    // The entry outlives the coroutine, which holds this callback.
    ctx.progress = [entry = &running](double fraction, std::string_view text) {
      if (entry->control->wants_progress())
        entry->owner->sink_.on_progress(entry->seq, fraction, std::string(text));
    };
  }
  sink_.on_started(seq, nullptr);
  if (on_activity_) on_activity_(ticket.kind->name);
  asio::co_spawn(loop_, ticket.kind->run_on_loop(std::move(ticket.params), std::move(ctx)),
                 asio::bind_cancellation_slot(
                     running.cancel.slot(), [this, seq](const std::exception_ptr& error, Outcome result) {
                       auto node = running_.extract(seq);
                       if (node.empty()) return;
                       if (!node.mapped().stopped) {
                         Outcome outcome = error ? proto::outcome_from_exception(error) : std::move(result);
                         sink_.on_finished(seq, std::move(outcome));
                       }
                       recycle(std::move(node));
                     }));
}

// The job's entry is made now, as for a coroutine, so that stop() before the handler runs
// finishes the job and the handler then finds it stopped.
void LoopExecutor::submit_inline(JobTicket ticket) {
  const JobSeq seq = ticket.seq;
  Running& running = add_running(seq)->second;
  running.owner = this;
  running.seq = seq;
  sink_.on_started(seq, nullptr);
  asio::post(loop_, [this, seq, kind = ticket.kind, params = std::move(ticket.params)]() mutable {
    auto node = running_.extract(seq);
    if (node.empty()) return;
    if (!node.mapped().stopped) {
      if (on_activity_) on_activity_(kind->name);
      Outcome outcome;
      try {
        outcome = kind->run_inline(std::move(params));
      } catch (...) {
        outcome = proto::outcome_from_exception(std::current_exception());
      }
      sink_.on_finished(seq, std::move(outcome));
    }
    recycle(std::move(node));
  });
}

LoopExecutor::RunningMap::iterator LoopExecutor::add_running(JobSeq seq) {
  if (spares_.empty()) return running_.try_emplace(seq).first;
  RunningMap::node_type node = std::move(spares_.back());
  spares_.pop_back();
  node.key() = seq;
  auto inserted = running_.insert(std::move(node));
  // A seq is never running twice; were it, the spare is dropped and the running entry kept.
  return inserted.position;
}

void LoopExecutor::recycle(RunningMap::node_type node) {
  // Under AddressSanitizer every node is freed, so that a use after the job ended is caught.
  if constexpr (kAddressSanitizer) return;
  if (spares_.size() >= kSpares) return;
  Running& running = node.mapped();
  running.owner = nullptr;
  running.seq = 0;
  running.control.reset();
  running.stopped = false;
  // `cancel` keeps the ended coroutine's handler: the next co_spawn destroys it and reuses its
  // memory. Nothing emits on a spare's signal.
  spares_.push_back(std::move(node));
}

void LoopExecutor::stop(JobSeq seq, StopReason reason) {
  auto it = running_.find(seq);
  if (it == running_.end() || it->second.stopped) return;
  it->second.stopped = true;
  it->second.cancel.emit(asio::cancellation_type::terminal);
  sink_.on_finished(seq, stopped_outcome(reason));
}

ExecutorStats LoopExecutor::stats() const {
  std::size_t active = 0;
  for (const auto& [seq, running] : running_) active += running.stopped ? 0 : 1;
  return {0, active, capacity_, 0};
}

}  // namespace jobd::exec
