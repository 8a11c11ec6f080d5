#include "exec/thread/thread_pool.hpp"

#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace jobd::exec {

ThreadPool::ThreadPool(ThreadPoolOptions options) : options_(options) {
  threads_.reserve(options_.threads);
  live_threads_ = options_.threads;
  for (std::size_t i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this] {
      run_worker();
      std::lock_guard lock(mutex_);
      --live_threads_;
      exited_.notify_all();
    });
  }
}

ThreadPool::~ThreadPool() { shutdown(); }

bool ThreadPool::try_push(Task task) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) return false;
    queue_.push_back(std::move(task));
    queued_.store(queue_.size(), std::memory_order_relaxed);
    wake = sleepers_ > 0;
  }
  if (wake) wake_.notify_one();
  return true;
}

void ThreadPool::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (abandoned_ && live_threads_ > 0) return;  // shutdown_until gave up on them: never block on them
  }
  shutdown_until(std::chrono::steady_clock::time_point::max());
}

bool ThreadPool::shutdown_until(std::chrono::steady_clock::time_point deadline) {
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    if (threads_.empty()) return true;
    wake_.notify_all();
    // std::thread has no timed join: wait until every thread says it is leaving, then join.
    if (!exited_.wait_until(lock, deadline, [this] { return live_threads_ == 0; })) {
      abandoned_ = true;
      return false;
    }
  }
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  return true;
}

bool ThreadPool::spin_for_work() const {
  const auto until = std::chrono::steady_clock::now() + options_.spin;
  while (std::chrono::steady_clock::now() < until) {
    if (queued_.load(std::memory_order_relaxed) > 0) return true;
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  return false;
}

void ThreadPool::run_worker() {
  if (options_.nice != 0) {
    // On Linux, PRIO_PROCESS with a thread id sets that thread's niceness alone.
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), options_.nice);
  }
  if (options_.policy != SCHED_OTHER) {
    // SCHED_IDLE: the thread runs only on a CPU nothing else wants, so the loop (and any other
    // process) preempts it at once; SCHED_BATCH: it never preempts others on waking. Neither
    // needs privileges to enter.
    sched_param param{};
    if (int error = pthread_setschedparam(pthread_self(), options_.policy, &param); error != 0) {
      spdlog::warn("thread pool: scheduling policy {} refused ({}): the thread keeps its own",
                   options_.policy, std::strerror(error));
    }
  }
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mutex_);
      if (queue_.empty() && !stopping_) {
        lock.unlock();
        spin_for_work();
        lock.lock();
        while (queue_.empty() && !stopping_) {
          ++sleepers_;
          wake_.wait(lock);
          --sleepers_;
        }
      }
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
      queued_.store(queue_.size(), std::memory_order_relaxed);
      busy_.fetch_add(1, std::memory_order_relaxed);
    }
    task();
    busy_.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace jobd::exec
