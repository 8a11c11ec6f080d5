// The retry policy and the due queue: which outcomes retry, the backoff's bounds, jitter and cap,
// and the order jobs come due in. Pure code: no clock but the one passed in.
#include <gtest/gtest.h>

#include "jobs/due_queue.hpp"
#include "jobs/retry_policy.hpp"

using namespace std::chrono_literals;
using jobd::jobs::backoff_ceiling;
using jobd::jobs::backoff_delay;
using jobd::jobs::Clock;
using jobd::jobs::DueQueue;
using jobd::jobs::is_retryable;
using jobd::proto::JobState;
using jobd::proto::Outcome;
namespace job_error = jobd::proto::job_error;

TEST(RetryPolicy, CrashesTimeoutsAndInterruptionsRetry) {
  EXPECT_TRUE(is_retryable(Outcome::failure(job_error::crashed, "worker killed by SIGSEGV")));
  EXPECT_TRUE(is_retryable(Outcome::failure(job_error::timed_out, "deadline exceeded", JobState::timed_out)));
  EXPECT_TRUE(is_retryable(Outcome::failure(job_error::interrupted, "jobd stopped")));
}

TEST(RetryPolicy, AKindsOwnFailureRetriesOnlyWhenMarkedRetryable) {
  EXPECT_FALSE(is_retryable(Outcome::failure(job_error::kind_failed, "bad input")));
  EXPECT_TRUE(is_retryable(Outcome::retryable_failure("dependency timed out")));
  const auto thrown =
      jobd::proto::outcome_from_exception(std::make_exception_ptr(jobd::proto::RetryableError("flaky")));
  EXPECT_TRUE(thrown.retryable);
  EXPECT_EQ(thrown.error_type, job_error::kind_failed);
  EXPECT_EQ(thrown.error_message, "flaky");
  EXPECT_TRUE(is_retryable(thrown));
}

TEST(RetryPolicy, CancelsSuccessesAndOtherErrorsNeverRetry) {
  EXPECT_FALSE(is_retryable(Outcome::success({})));
  EXPECT_FALSE(
      is_retryable(Outcome::failure(job_error::cancelled, "cancelled by request", JobState::cancelled)));
  EXPECT_FALSE(is_retryable(Outcome::failure(job_error::out_of_memory, "allocation failed")));
  EXPECT_FALSE(is_retryable(Outcome::failure(job_error::internal, "oops")));
  // Even marked retryable, a cancel stays a cancel.
  auto cancelled = Outcome::failure(job_error::cancelled, "cancelled", JobState::cancelled);
  cancelled.retryable = true;
  EXPECT_FALSE(is_retryable(cancelled));
}

TEST(RetryPolicy, CeilingDoublesPerAttemptFromTheBase) {
  EXPECT_EQ(backoff_ceiling(100ms, 1, 10min), 100ms);
  EXPECT_EQ(backoff_ceiling(100ms, 2, 10min), 200ms);
  EXPECT_EQ(backoff_ceiling(100ms, 3, 10min), 400ms);
  EXPECT_EQ(backoff_ceiling(1000ms, 10, 10min), 512'000ms);
}

TEST(RetryPolicy, CeilingIsCappedAndNeverOverflows) {
  EXPECT_EQ(backoff_ceiling(1000ms, 11, 10min), 10min);
  EXPECT_EQ(backoff_ceiling(1h, 1, 10min), 10min);
  EXPECT_EQ(backoff_ceiling(1h, 4'000'000'000u, std::chrono::milliseconds::max()),
            std::chrono::milliseconds::max());
}

TEST(RetryPolicy, EqualJitterStaysWithinHalfToFullCeiling) {
  for (std::uint32_t attempt = 1; attempt <= 20; ++attempt) {
    const auto ceiling = backoff_ceiling(150ms, attempt, 10min);
    for (double unit : {0.0, 0.001, 0.25, 0.5, 0.75, 0.999999}) {
      const auto delay = backoff_delay(150ms, attempt, 10min, unit);
      EXPECT_GE(delay, ceiling / 2) << attempt << " " << unit;
      EXPECT_LE(delay, ceiling) << attempt << " " << unit;
    }
  }
  EXPECT_EQ(backoff_delay(100ms, 1, 10min, 0.0), 50ms);
  EXPECT_EQ(backoff_delay(100ms, 1, 10min, 0.5), 75ms);
  // Out-of-range draws are clamped, never a delay outside the bounds.
  EXPECT_EQ(backoff_delay(100ms, 1, 10min, -3.0), 50ms);
  EXPECT_EQ(backoff_delay(100ms, 1, 10min, 7.0), 100ms);
}

TEST(RetryPolicy, EveryRetryWaitsAndGapsDoNotShrink) {
  // The longest wait after attempt n is the shortest after attempt n + 1 (below the cap).
  for (std::uint32_t attempt = 1; attempt < 12; ++attempt) {
    EXPECT_GT(backoff_delay(10ms, attempt, 10min, 0.0), 0ms);
    EXPECT_LE(backoff_delay(10ms, attempt, 10min, 0.999), backoff_delay(10ms, attempt + 1, 10min, 0.0));
  }
}

namespace {
const Clock::time_point t0 = Clock::time_point(std::chrono::hours(500'000));
}

TEST(DueQueue, PopsInDueOrderThenBySeq) {
  DueQueue queue;
  queue.push(3, t0 + 20ms);
  queue.push(1, t0 + 30ms);
  queue.push(5, t0 + 10ms);
  queue.push(2, t0 + 20ms);
  std::vector<jobd::jobs::JobSeq> order;
  while (auto seq = queue.pop_due(t0 + 1h)) order.push_back(*seq);
  EXPECT_EQ(order, (std::vector<jobd::jobs::JobSeq>{5, 2, 3, 1}));
  EXPECT_TRUE(queue.empty());
}

TEST(DueQueue, NothingIsDueBeforeItsTime) {
  DueQueue queue;
  queue.push(1, t0 + 10ms);
  queue.push(2, t0 + 20ms);
  EXPECT_EQ(queue.pop_due(t0 + 9ms), std::nullopt);
  EXPECT_EQ(queue.pop_due(t0 + 10ms), 1u);
  EXPECT_EQ(queue.pop_due(t0 + 19ms), std::nullopt);
  EXPECT_EQ(queue.earliest(), t0 + 20ms);
  EXPECT_EQ(queue.size(), 1u);
}

TEST(DueQueue, PushSaysWhenTheTimerMustMoveEarlier) {
  DueQueue queue;
  EXPECT_TRUE(queue.push(1, t0 + 50ms));   // first: arm
  EXPECT_FALSE(queue.push(2, t0 + 80ms));  // later: the armed timer still fires first
  EXPECT_TRUE(queue.push(3, t0 + 10ms));   // earlier: re-arm
  EXPECT_EQ(queue.earliest(), t0 + 10ms);
  EXPECT_FALSE(queue.push(4, t0 + 10ms));  // same time, larger seq: behind the earliest
}

TEST(DueQueue, RemovedJobsNeverComeDue) {
  DueQueue queue;
  queue.push(1, t0 + 10ms);
  queue.push(2, t0 + 20ms);
  EXPECT_TRUE(queue.remove(1));
  EXPECT_FALSE(queue.remove(1));
  EXPECT_FALSE(queue.contains(1));
  EXPECT_EQ(queue.earliest(), t0 + 20ms);
  EXPECT_EQ(queue.pop_due(t0 + 1h), 2u);
  EXPECT_EQ(queue.pop_due(t0 + 1h), std::nullopt);
}

TEST(DueQueue, PushingAgainMovesAJob) {
  DueQueue queue;
  queue.push(1, t0 + 10ms);
  queue.push(1, t0 + 40ms);
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.pop_due(t0 + 30ms), std::nullopt);
  EXPECT_EQ(queue.pop_due(t0 + 40ms), 1u);
}
