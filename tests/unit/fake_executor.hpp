// A test Executor that runs nothing: it records what the scheduler asks of it and leaves the
// timing to the test, which starts, finishes or stops jobs by hand through the real JobSink
// (the scheduler). Used by the scheduler and API unit tests: no threads, no processes, no
// sockets.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <set>
#include <utility>
#include <vector>

#include "exec/executor.hpp"

namespace jobd::testing {

class FakeExecutor final : public exec::Executor {
 public:
  // `capacity`: jobs held (accepted, not finished) before has_room() says no.
  FakeExecutor(boost::asio::any_io_executor loop, exec::JobSink& sink, proto::Executor id,
               std::size_t capacity)
      : loop_(std::move(loop)), sink_(sink), id_(id), capacity_(capacity) {}

  // ---- what the test controls -----------------------------------------------------------
  // Every accepted job succeeds right after submit (posted, as a real executor's result is).
  bool finish_on_submit = false;
  // A stop finishes the job at once (a queued job); otherwise it stays until finish() (a
  // running job whose code has not noticed yet).
  bool stop_at_once = true;

  void start(exec::JobSeq seq) { sink_.on_started(seq, nullptr); }
  void finish(exec::JobSeq seq, proto::Outcome outcome) {
    if (held_.erase(seq) == 0) return;
    sink_.on_finished(seq, std::move(outcome));
  }

  // ---- what the test reads ------------------------------------------------------------
  const std::vector<exec::JobTicket>& tickets() const { return tickets_; }
  const std::vector<std::pair<exec::JobSeq, exec::StopReason>>& stops() const { return stops_; }
  std::size_t held() const { return held_.size(); }

  // ---- exec::Executor -----------------------------------------------------------------
  proto::Executor id() const override { return id_; }
  bool has_room() const override { return held_.size() < capacity_; }
  void submit(exec::JobTicket ticket) override {
    const exec::JobSeq seq = ticket.seq;
    held_.insert(seq);
    tickets_.push_back(std::move(ticket));
    if (finish_on_submit) {
      boost::asio::post(loop_, [this, seq] { finish(seq, proto::Outcome::success({{"done", true}})); });
    }
  }
  void stop(exec::JobSeq seq, exec::StopReason reason) override {
    stops_.emplace_back(seq, reason);
    if (stop_at_once) finish(seq, exec::stopped_outcome(reason));
  }
  exec::ExecutorStats stats() const override { return {held_.size(), 0, capacity_, 0, {}}; }

 private:
  boost::asio::any_io_executor loop_;
  exec::JobSink& sink_;
  proto::Executor id_;
  std::size_t capacity_;
  std::set<exec::JobSeq> held_;
  std::vector<exec::JobTicket> tickets_;
  std::vector<std::pair<exec::JobSeq, exec::StopReason>> stops_;
};

}  // namespace jobd::testing
