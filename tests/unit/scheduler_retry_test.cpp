// Retries and delayed jobs through the real Scheduler and JobTable with a fake executor: what
// retries and what does not, one ticket per attempt (a late result of an old attempt is
// dropped), cancel while waiting, delayed jobs dispatched in due order and only when due, a
// full executor at dispatch, the deadline armed per attempt. Short real delays on the loop.
#include <gtest/gtest.h>

#include "api_fixture.hpp"
#include "jobs/record.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using jobd::jobs::Job;
using jobd::jobs::Submitted;
using jobd::proto::JobSpec;
using jobd::proto::JobState;
using jobd::proto::Outcome;
using jobd::proto::Problem;
namespace job_error = jobd::proto::job_error;

namespace {

JobSpec retried(std::int64_t max_attempts, std::int64_t retry_delay_ms = 10) {
  return JobSpec{
      .kind = "work", .params = {{"n", 1}}, .max_attempts = max_attempts, .retry_delay_ms = retry_delay_ms};
}

JobSpec delayed(std::int64_t delay_ms, int n = 1) {
  return JobSpec{.kind = "work", .params = {{"n", n}}, .delay_ms = delay_ms};
}

const Job& admitted(std::variant<Submitted, Problem> result) {
  if (auto* problem = std::get_if<Problem>(&result)) ADD_FAILURE() << problem->detail;
  return *std::get<Submitted>(result).job;
}

template <typename Done>
bool run_until(ApiHarness& h, Done done, std::chrono::milliseconds limit = 2s) {
  h.loop.restart();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) h.loop.run_one_for(5ms);
  return done();
}

void run_for(ApiHarness& h, std::chrono::milliseconds time) {
  run_until(
      h, [] { return false; }, time);
}

nlohmann::json record_of(const Job& job) { return nlohmann::json::parse(jobd::jobs::render_record(job)); }

Outcome crashed() { return Outcome::failure(job_error::crashed, "worker killed by SIGSEGV"); }

}  // namespace

TEST(SchedulerRetry, ACrashIsRetriedOnAFreshTicketAndTheRecordKeepsTheError) {
  ApiHarness h;
  const Job& job = admitted(h.scheduler.submit(retried(3)));
  ASSERT_EQ(h.executor->tickets().size(), 1u);
  const auto first = h.executor->tickets()[0].seq;
  EXPECT_EQ(first, job.seq);  // a first attempt is known by the job's own seq
  h.executor->finish(first, crashed());
  EXPECT_EQ(job.state, JobState::queued);
  EXPECT_EQ(job.attempt, 2u);
  ASSERT_TRUE(job.run_at.has_value());
  EXPECT_EQ(h.scheduler.waiting(), 1u);
  const auto record = record_of(job);
  EXPECT_EQ(record["attempt"], 2);
  EXPECT_EQ(record["max_attempts"], 3);
  EXPECT_TRUE(record.contains("run_at"));
  ASSERT_EQ(record["attempts"].size(), 1u);
  EXPECT_EQ(record["attempts"][0]["type"], "crashed");
  EXPECT_EQ(record["attempts"][0]["attempt"], 1);
  EXPECT_TRUE(record["attempts"][0].contains("finished_at"));

  ASSERT_TRUE(run_until(h, [&] { return h.executor->tickets().size() == 2; }));
  const auto second = h.executor->tickets()[1].seq;
  EXPECT_NE(second, first);
  EXPECT_EQ(h.scheduler.waiting(), 0u);
  h.executor->finish(second, Outcome::success({{"ok", true}}));
  EXPECT_EQ(job.state, JobState::succeeded);
  EXPECT_EQ(record_of(job)["attempt"], 2);
  EXPECT_FALSE(record_of(job).contains("run_at"));
}

TEST(SchedulerRetry, ALateResultOfAnEarlierAttemptIsDropped) {
  ApiHarness h;
  const Job& job = admitted(h.scheduler.submit(retried(2)));
  const auto first = h.executor->tickets()[0].seq;
  h.executor->finish(first, crashed());
  ASSERT_EQ(job.attempt, 2u);
  // The first attempt's executor speaks again (a thread that ignored its stop token).
  h.scheduler.on_started(first, nullptr);
  h.scheduler.on_finished(first, Outcome::success({}));
  EXPECT_EQ(job.state, JobState::queued);
  EXPECT_EQ(job.attempt, 2u);
}

TEST(SchedulerRetry, AKindsOwnFailureIsFinal) {
  ApiHarness h;
  const Job& job = admitted(h.scheduler.submit(retried(3)));
  h.executor->finish(job.seq, Outcome::failure(job_error::kind_failed, "bad input"));
  EXPECT_EQ(job.state, JobState::failed);
  EXPECT_EQ(job.attempt, 1u);
  EXPECT_TRUE(job.attempts.empty());
  EXPECT_EQ(h.scheduler.waiting(), 0u);
}

TEST(SchedulerRetry, RetryableFailuresRetryUntilAttemptsRunOut) {
  ApiHarness h;
  const Job& job = admitted(h.scheduler.submit(retried(3)));
  for (std::size_t attempt = 1; attempt <= 3; ++attempt) {
    ASSERT_TRUE(run_until(h, [&] { return h.executor->tickets().size() == attempt; })) << attempt;
    h.executor->finish(h.executor->tickets().back().seq,
                       Outcome::retryable_failure("flaky " + std::to_string(attempt)));
  }
  EXPECT_EQ(job.state, JobState::failed);
  EXPECT_EQ(job.attempt, 3u);
  EXPECT_EQ(job.error->message, "flaky 3");
  const auto record = record_of(job);
  ASSERT_EQ(record["attempts"].size(), 2u);
  EXPECT_EQ(record["attempts"][1]["message"], "flaky 2");
  run_for(h, 50ms);
  EXPECT_EQ(h.executor->tickets().size(), 3u);
}

TEST(SchedulerRetry, ATimeoutIsRetriedAndEachAttemptGetsTheWholeTimeout) {
  ApiHarness h;
  auto spec = retried(2);
  spec.timeout_ms = 100;
  const Job& job = admitted(h.scheduler.submit(std::move(spec)));
  ASSERT_TRUE(run_until(h, [&] { return h.executor->tickets().size() == 2; }));
  EXPECT_EQ(h.executor->stops().size(), 1u);
  EXPECT_EQ(job.attempt, 2u);
  // The second attempt's deadline counts from its dispatch.
  const auto left = h.executor->tickets()[1].deadline - std::chrono::steady_clock::now();
  EXPECT_GT(left, 50ms);
  ASSERT_TRUE(run_until(h, [&] { return jobd::proto::is_final(job.state); }));
  EXPECT_EQ(job.state, JobState::timed_out);
  EXPECT_EQ(record_of(job)["attempts"][0]["type"], "timed-out");
}

TEST(SchedulerRetry, CancelWhileWaitingToRetryEndsIt) {
  ApiHarness h;
  const Job& job = admitted(h.scheduler.submit(retried(3, 200)));
  h.executor->finish(job.seq, crashed());
  ASSERT_EQ(job.state, JobState::queued);
  ASSERT_TRUE(std::holds_alternative<const Job*>(h.scheduler.cancel(job.id)));
  EXPECT_EQ(job.state, JobState::cancelled);
  EXPECT_EQ(h.scheduler.waiting(), 0u);
  run_for(h, 300ms);
  EXPECT_EQ(h.executor->tickets().size(), 1u);
}

TEST(SchedulerRetry, ACancelledRunningJobIsNotRetried) {
  ApiHarness h;
  h.executor->stop_at_once = false;
  const Job& job = admitted(h.scheduler.submit(retried(3)));
  h.scheduler.cancel(job.id);
  // The executor reports something retryable as the job goes (its worker died under it).
  h.executor->finish(job.seq, crashed());
  EXPECT_EQ(job.state, JobState::failed);
  EXPECT_EQ(job.attempt, 1u);
}

TEST(SchedulerDelayed, ADelayedJobWaitsQueuedWithRunAtUntilDue) {
  ApiHarness h;
  const auto submitted = std::chrono::steady_clock::now();
  const Job& job = admitted(h.scheduler.submit(delayed(80)));
  EXPECT_EQ(job.state, JobState::queued);
  EXPECT_TRUE(h.executor->tickets().empty());
  EXPECT_TRUE(record_of(job).contains("run_at"));
  EXPECT_EQ(h.table.counts().active, 1u);
  ASSERT_TRUE(run_until(h, [&] { return h.executor->tickets().size() == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - submitted, 75ms);
  h.executor->start(job.seq);
  EXPECT_FALSE(record_of(job).contains("run_at"));
}

TEST(SchedulerDelayed, DueJobsAreDispatchedInDueOrder) {
  ApiHarness h;
  // Absolute times from one instant: with delay_ms, a test thread descheduled for 30 ms between
  // two submits (a loaded machine) would give them due times in another order.
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(jobd::jobs::Clock::now().time_since_epoch())
          .count();
  const auto at = [now_ms](std::int64_t after_ms, int n) {
    return JobSpec{.kind = "work", .params = {{"n", n}}, .run_at_ms = now_ms + after_ms};
  };
  const Job& late = admitted(h.scheduler.submit(at(90, 1)));
  const Job& early = admitted(h.scheduler.submit(at(30, 2)));
  const Job& middle = admitted(h.scheduler.submit(at(60, 3)));
  ASSERT_TRUE(run_until(h, [&] { return h.executor->tickets().size() == 3; }));
  EXPECT_EQ(h.executor->tickets()[0].seq, early.seq);
  EXPECT_EQ(h.executor->tickets()[1].seq, middle.seq);
  EXPECT_EQ(h.executor->tickets()[2].seq, late.seq);
}

TEST(SchedulerDelayed, CancelWhileDelayedMeansItNeverRuns) {
  ApiHarness h;
  const Job& job = admitted(h.scheduler.submit(delayed(40)));
  ASSERT_TRUE(std::holds_alternative<const Job*>(h.scheduler.cancel(job.id)));
  EXPECT_EQ(job.state, JobState::cancelled);
  run_for(h, 100ms);
  EXPECT_TRUE(h.executor->tickets().empty());
}

TEST(SchedulerDelayed, AFullExecutorAtDispatchKeepsTheJobUntilASlotFrees) {
  ApiHarness h({}, /*capacity=*/1);
  const Job& running = admitted(h.scheduler.submit(JobSpec{.kind = "work", .params = {{"n", 1}}}));
  // Admission of a delayed job does not need room now.
  const Job& job = admitted(h.scheduler.submit(delayed(10)));
  run_for(h, 60ms);
  EXPECT_EQ(h.executor->tickets().size(), 1u);
  EXPECT_EQ(job.state, JobState::queued);
  h.executor->finish(running.seq, Outcome::success({}));
  ASSERT_TRUE(run_until(
      h, [&] { return h.executor->tickets().size() == 2; }, 50ms));
  EXPECT_EQ(h.executor->tickets()[1].seq, job.seq);
}

TEST(SchedulerDelayed, RunAtInThePastRunsNowAndTooFarIsRefused) {
  ApiHarness h;
  admitted(h.scheduler.submit(JobSpec{.kind = "work", .params = {{"n", 1}}, .run_at_ms = 1'000}));
  EXPECT_EQ(h.executor->tickets().size(), 1u);
  const auto far = std::chrono::duration_cast<std::chrono::milliseconds>(
                       (jobd::jobs::Clock::now() + std::chrono::hours(24 * 31)).time_since_epoch())
                       .count();
  const auto refused = h.scheduler.submit(JobSpec{.kind = "work", .params = {{"n", 1}}, .run_at_ms = far});
  ASSERT_TRUE(std::holds_alternative<Problem>(refused));
  EXPECT_EQ(std::get<Problem>(refused).kind.type, "/problems/invalid-request");
  EXPECT_EQ(std::get<Problem>(refused).pointer, "/run_at");
}

TEST(SchedulerDelayed, ResumeDispatchesADueJobAndHoldsALaterOne) {
  ApiHarness h;
  const Job& job = h.table.create(*api_test_kinds().find("work"), jobd::proto::Executor::thread, R"({"n":2})",
                                  5s, std::nullopt, jobd::jobs::Clock::now());
  const Job& later =
      h.table.create(*api_test_kinds().find("work"), jobd::proto::Executor::thread, R"({"n":3})", 5s,
                     std::nullopt, jobd::jobs::Clock::now(), {.run_at = jobd::jobs::Clock::now() + 10min});
  h.scheduler.resume(job);
  h.scheduler.resume(later);
  EXPECT_EQ(h.scheduler.waiting(), 2u);
  ASSERT_TRUE(run_until(h, [&] { return h.executor->tickets().size() == 1; }));
  EXPECT_EQ(h.executor->tickets()[0].params, nlohmann::json({{"n", 2}}));
  EXPECT_EQ(h.scheduler.waiting(), 1u);
}

TEST(SchedulerDelayedTimes, RunAtsNoClockCanHoldAreJudgedWithoutOverflow) {
  ApiHarness h;
  // Year 2999 and year 0001: beyond what a nanosecond time_point holds.
  const auto far =
      h.scheduler.submit(JobSpec{.kind = "work", .params = {{"n", 1}}, .run_at_ms = 32'503'680'000'000});
  ASSERT_TRUE(std::holds_alternative<Problem>(far));
  EXPECT_EQ(std::get<Problem>(far).pointer, "/run_at");
  admitted(
      h.scheduler.submit(JobSpec{.kind = "work", .params = {{"n", 1}}, .run_at_ms = -62'135'596'800'000}));
  EXPECT_EQ(h.executor->tickets().size(), 1u);
}

TEST(SchedulerResume, AJobThatWasRunningIsInterruptedAndRetriedWhileAttemptsRemain) {
  ApiHarness h;
  const auto& work = *api_test_kinds().find("work");
  const auto now = jobd::jobs::Clock::now();
  const Job& again = h.table.create(work, jobd::proto::Executor::thread, R"({"n":1})", 5s, std::nullopt, now,
                                    {.max_attempts = 2, .retry_delay = 10ms});
  const Job& lost = h.table.create(work, jobd::proto::Executor::thread, R"({"n":1})", 5s, std::nullopt, now);
  h.table.start(again.seq, nullptr, now);
  h.table.start(lost.seq, nullptr, now);
  h.scheduler.resume(again);
  h.scheduler.resume(lost);
  EXPECT_EQ(lost.state, JobState::failed);
  EXPECT_EQ(lost.error->type, job_error::interrupted);
  EXPECT_EQ(again.state, JobState::queued);
  EXPECT_EQ(again.attempt, 2u);
  EXPECT_EQ(record_of(again)["attempts"][0]["type"], "interrupted");
  ASSERT_TRUE(run_until(h, [&] { return h.executor->tickets().size() == 1; }));
  EXPECT_EQ(h.executor->tickets()[0].seq, jobd::jobs::Scheduler::ticket_seq(again));
}

TEST(SchedulerRetryIdempotency, TheSameKeyWithOtherAttemptsIsAConflict) {
  ApiHarness h;
  auto spec = retried(3);
  spec.idempotency_key = "k";
  admitted(h.scheduler.submit(spec));
  EXPECT_TRUE(std::get<Submitted>(h.scheduler.submit(spec)).replayed);
  auto other = spec;
  other.max_attempts = 2;
  const auto conflict = h.scheduler.submit(other);
  ASSERT_TRUE(std::holds_alternative<Problem>(conflict));
  EXPECT_EQ(std::get<Problem>(conflict).kind.type, "/problems/idempotency-conflict");
}
