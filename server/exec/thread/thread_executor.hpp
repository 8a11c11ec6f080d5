// `thread` executor: CPU-bound kinds on a fixed ThreadPool (the threading model).
// Cheap to dispatch, but a thread cannot be killed: cancellation and timeouts request the job's
// stop token and report the job at once; a kind that ignores the token keeps its thread busy
// until it returns, and its late result is dropped; at shutdown jobd exits without it once the
// drain timeout + kill grace have passed (shutdown_until, app.cpp).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <unordered_set>

#include "exec/executor.hpp"
#include "exec/thread/thread_pool.hpp"

namespace jobd::exec {

class ThreadExecutor final : public Executor {
 public:
  ThreadExecutor(boost::asio::any_io_executor loop, JobSink& sink, ThreadPoolOptions options);
  ~ThreadExecutor() override;

  proto::Executor id() const override { return proto::Executor::thread; }
  bool has_room() const override { return pool_.queued() < pool_.capacity(); }
  void submit(JobTicket ticket) override;
  void stop(JobSeq seq, StopReason reason) override;
  ExecutorStats stats() const override;
  void shutdown() override { pool_.shutdown(); }
  // Shutdown that waits for the pool's threads only until `deadline`; false when a job that
  // ignores its stop token still holds a thread (ThreadPool::shutdown_until: end the process).
  bool shutdown_until(std::chrono::steady_clock::time_point deadline) {
    return pool_.shutdown_until(deadline);
  }

 private:
  boost::asio::any_io_executor loop_;
  JobSink& sink_;
  std::unordered_set<JobSeq> active_;  // loop thread only: accepted and not yet finished
  std::chrono::microseconds yield_every_;
  std::atomic<std::uint64_t> cpu_yields_{0};  // added by pool threads as their jobs end
  ThreadPool pool_;                           // last: its threads stop before the rest goes
};

}  // namespace jobd::exec
