// `loop` executor: cooperative coroutines on the event loop itself (the asyncio model).
// For I/O-shaped kinds only: a loop kind must never compute for more than ~100 µs between
// two co_awaits. Cancellation is asio's: a terminal cancellation stops the kind at its next
// co_await. A kind that never waits (Kind::run_inline) is called from one handler posted to the
// loop instead: no coroutine frame, no cancellation slot; a stop before that handler runs
// finishes the job, and the handler then skips it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "exec/executor.hpp"

namespace jobd::exec {

class LoopExecutor final : public Executor {
 public:
  // `on_activity` hears the name of each kind before its code runs on the loop (the loop-lag
  // monitor names the last thing that ran when the loop stalls); may be empty.
  LoopExecutor(boost::asio::any_io_executor loop, JobSink& sink, std::size_t capacity,
               std::function<void(std::string_view)> on_activity = {});

  proto::Executor id() const override { return proto::Executor::loop; }
  bool has_room() const override { return running_.size() < capacity_; }
  void submit(JobTicket ticket) override;
  void stop(JobSeq seq, StopReason reason) override;
  ExecutorStats stats() const override;

 private:
  struct Running {
    LoopExecutor* owner = nullptr;
    JobSeq seq = 0;
    std::shared_ptr<JobControl> control;  // for the progress reports
    boost::asio::cancellation_signal cancel;
    bool stopped = false;  // finished by stop(); the coroutine's own ending is then ignored
  };

  boost::asio::any_io_executor loop_;
  JobSink& sink_;
  std::size_t capacity_;
  std::function<void(std::string_view)> on_activity_;
  // The signal must outlive the coroutine bound to it, so an entry leaves only when the
  // coroutine has completed, even after stop(). Held in the map's node itself (a node never
  // moves): the progress callback points at it.
  using RunningMap = std::unordered_map<JobSeq, Running>;
  RunningMap running_;
  // Nodes of finished jobs, kept for the next ones: a job then allocates neither the node nor its
  // signal's handler memory (co_spawn's handler is emplaced where the last job's was; Asio's own
  // cache of that memory holds 16 blocks per thread, BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE,
  // shared with every other cancellation slot: fewer than the jobs that run at once).
  static constexpr std::size_t kSpares = 64;
  std::vector<RunningMap::node_type> spares_;
  RunningMap::iterator add_running(JobSeq seq);
  void submit_inline(JobTicket ticket);  // a kind's run_inline
  void recycle(RunningMap::node_type node);
};

}  // namespace jobd::exec
