#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <latch>
#include <set>
#include <thread>

#include "exec/thread/thread_pool.hpp"

using namespace jobd::exec;
using namespace std::chrono_literals;

TEST(ThreadPool, RunsEveryTaskOnPoolThreads) {
  ThreadPool pool({.threads = 3, .queue_capacity = 10000});
  std::atomic<int> ran{0};
  std::mutex mutex;
  std::set<std::thread::id> threads;
  for (int i = 0; i < 5000; ++i) {
    while (!pool.try_push([&] {
      ran.fetch_add(1);
      std::lock_guard lock(mutex);
      threads.insert(std::this_thread::get_id());
    })) {
      std::this_thread::yield();
    }
  }
  pool.shutdown();
  EXPECT_EQ(ran.load(), 5000);
  EXPECT_FALSE(threads.contains(std::this_thread::get_id()));
  EXPECT_LE(threads.size(), 3u);
}

TEST(ThreadPool, RefusesBeyondQueueCapacityWithoutBlocking) {
  ThreadPool pool({.threads = 1, .queue_capacity = 2});
  std::latch started(1);
  std::latch release(1);
  ASSERT_TRUE(pool.try_push([&] {
    started.count_down();
    release.wait();
  }));
  started.wait();  // the one thread is busy; the queue is empty
  EXPECT_TRUE(pool.try_push([] {}));
  EXPECT_TRUE(pool.try_push([] {}));
  EXPECT_FALSE(pool.try_push([] {}));  // capacity 2 reached
  EXPECT_EQ(pool.queued(), 2u);
  EXPECT_EQ(pool.busy(), 1u);
  release.count_down();
  pool.shutdown();
  EXPECT_EQ(pool.queued(), 0u);
}

TEST(ThreadPool, ShutdownRunsWhatWasQueuedThenRefusesMore) {
  ThreadPool pool({.threads = 1, .queue_capacity = 100});
  std::atomic<int> ran{0};
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(pool.try_push([&] {
      std::this_thread::sleep_for(100us);
      ran.fetch_add(1);
    }));
  pool.shutdown();
  EXPECT_EQ(ran.load(), 50);
  EXPECT_FALSE(pool.try_push([] {}));
}

TEST(ThreadPool, ParkedThreadsWakeForLateWork) {
  ThreadPool pool({.threads = 2, .queue_capacity = 10, .spin = 10us});
  std::this_thread::sleep_for(20ms);  // both threads spun out and parked
  std::atomic<bool> ran{false};
  ASSERT_TRUE(pool.try_push([&] { ran = true; }));
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (!ran && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(ran.load());
}

TEST(ThreadPool, ShutdownUntilADeadlineGivesUpOnATaskThatKeepsRunning) {
  ThreadPool pool({.threads = 2, .queue_capacity = 4});
  std::atomic<bool> release{false};
  ASSERT_TRUE(pool.try_push([&] {
    while (!release.load()) std::this_thread::yield();  // never looks at a stop token
  }));
  while (pool.busy() == 0) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(pool.shutdown_until(start + 100ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  pool.shutdown();  // returns at once: it never blocks on a thread it gave up on
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_FALSE(pool.try_push([] {}));
  release = true;  // once the task ends, a later shutdown_until joins every thread
  EXPECT_TRUE(pool.shutdown_until(std::chrono::steady_clock::now() + 10s));
  EXPECT_EQ(pool.threads(), 0u);
}

TEST(ThreadPool, ThreadsRunUnderTheSchedulingPolicyAsked) {
  for (const int policy : {SCHED_IDLE, SCHED_BATCH, SCHED_OTHER}) {
    ThreadPool pool({.threads = 2, .queue_capacity = 10, .policy = policy});
    std::atomic<int> seen{-1};
    ASSERT_TRUE(pool.try_push([&] { seen = sched_getscheduler(0); }));
    pool.shutdown();
    EXPECT_EQ(seen.load(), policy);
  }
  EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER) << "the caller's own thread is left as it was";
}
