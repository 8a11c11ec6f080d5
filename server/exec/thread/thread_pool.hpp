// ThreadPool: a fixed set of threads draining one bounded FIFO of tasks.
//
// Knows nothing of jobs or of the loop: ThreadExecutor builds on it. Threads spin briefly
// before they park, because on this class of machine waking a parked thread on the other core
// costs tens of microseconds (DESIGN §6), more than a short job; and they may run at a lower
// scheduling priority so that the loop thread wins the CPU when both want it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace jobd::exec {

struct ThreadPoolOptions {
  std::size_t threads = 2;
  std::size_t queue_capacity = 1024;   // tasks waiting for a thread; try_push fails beyond
  int nice = 0;                        // added niceness of the pool threads (0 = same as loop)
  int policy = 0;                      // their Linux scheduling policy: SCHED_OTHER (0), _BATCH, _IDLE
  std::chrono::microseconds spin{50};  // how long an idle thread polls before parking
  // How long a thread runs CPU-bound jobs before it yields at a checkpoint (kinds::CpuContext);
  // zero: never. The pool itself does not use it: the executor hands it to each job.
  std::chrono::microseconds yield_every{0};
};

class ThreadPool {
 public:
  using Task = std::function<void()>;

  explicit ThreadPool(ThreadPoolOptions options);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues a task; false when the queue is at capacity. Never blocks on a full queue.
  bool try_push(Task task);
  // Lets queued tasks finish, then joins every thread. Idempotent; returns at once while a
  // thread shutdown_until gave up on still runs.
  void shutdown();
  // The same, waiting only until `deadline`. False when a thread still runs a task then (one
  // that never polls its stop token): the pool gives up on it, and unless it ends and a later
  // shutdown_until joins it, the caller must end the process without destroying the pool
  // (std::_Exit): a running thread can be neither killed nor joined, and destroying what it
  // uses would be undefined.
  bool shutdown_until(std::chrono::steady_clock::time_point deadline);

  std::size_t queued() const { return queued_.load(std::memory_order_relaxed); }
  std::size_t busy() const { return busy_.load(std::memory_order_relaxed); }
  std::size_t threads() const { return threads_.size(); }
  std::size_t capacity() const { return options_.queue_capacity; }

 private:
  void run_worker();
  bool spin_for_work() const;

  ThreadPoolOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> queue_;
  std::size_t sleepers_ = 0;  // threads parked on wake_; a push notifies only if some are
  bool stopping_ = false;
  bool abandoned_ = false;          // shutdown_until gave up on a thread still running a task
  std::size_t live_threads_ = 0;    // threads that have not left run_worker
  std::condition_variable exited_;  // notified as each thread leaves run_worker
  std::atomic<std::size_t> queued_{0};
  std::atomic<std::size_t> busy_{0};
  std::vector<std::thread> threads_;
};

}  // namespace jobd::exec
