// Scheduler admission with a fake executor: what is refused leaves no job behind, idempotency
// keys replay or conflict, timeouts are bounded and become deadlines. No threads, no sockets.
#include <gtest/gtest.h>

#include "api_fixture.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using jobd::exec::StopReason;
using jobd::jobs::Submitted;
using jobd::proto::JobSpec;
using jobd::proto::Problem;

namespace {

JobSpec work(int n = 1) { return JobSpec{.kind = "work", .params = {{"n", n}}}; }

JobSpec with_key(JobSpec spec, std::string key) {
  spec.idempotency_key = std::move(key);
  return spec;
}

std::string_view refusal_type(const std::variant<Submitted, Problem>& result) {
  if (const auto* problem = std::get_if<Problem>(&result)) return problem->kind.type;
  return "(admitted)";
}

// Runs the loop until `done` or the time is up.
template <typename Done>
void run_until(ApiHarness& h, Done done, std::chrono::milliseconds limit = 2s) {
  h.loop.restart();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) h.loop.run_one_for(5ms);
}

}  // namespace

TEST(SchedulerAdmission, FullQueueRefusesWith429AndCreatesNoJob) {
  ApiHarness h({}, /*capacity=*/2);
  ASSERT_EQ(refusal_type(h.scheduler.submit(work())), "(admitted)");
  ASSERT_EQ(refusal_type(h.scheduler.submit(work())), "(admitted)");
  const auto refused = h.scheduler.submit(work());
  EXPECT_EQ(refusal_type(refused), "/problems/queue-full");
  EXPECT_EQ(std::get<Problem>(refused).retry_after_s, kRetryAfter);
  EXPECT_EQ(h.table.counts().total, 2u);
  EXPECT_EQ(h.executor->tickets().size(), 2u);
}

TEST(SchedulerAdmission, RoomFreedByAFinishedJobAdmitsTheNext) {
  ApiHarness h({}, /*capacity=*/1);
  const auto* first = std::get<Submitted>(h.scheduler.submit(work())).job;
  EXPECT_EQ(refusal_type(h.scheduler.submit(work())), "/problems/queue-full");
  h.executor->finish(first->seq, jobd::proto::Outcome::success({}));
  EXPECT_EQ(refusal_type(h.scheduler.submit(work())), "(admitted)");
}

TEST(SchedulerAdmission, RefusedSubmissionsLeaveNoJob) {
  ApiHarness h;
  EXPECT_EQ(refusal_type(h.scheduler.submit(JobSpec{.kind = "nope"})), "/problems/unknown-kind");
  EXPECT_EQ(refusal_type(h.scheduler.submit(JobSpec{.kind = "looped"})), "/problems/executor-not-allowed");
  EXPECT_EQ(refusal_type(h.scheduler.submit(work(99))), "/problems/invalid-params");
  h.scheduler.begin_drain();
  EXPECT_EQ(refusal_type(h.scheduler.submit(work())), "/problems/draining");
  EXPECT_FALSE(h.scheduler.ready());
  EXPECT_EQ(h.table.counts().total, 0u);
  EXPECT_TRUE(h.executor->tickets().empty());
}

TEST(SchedulerAdmission, SameKeyAndRequestReplaysTheEarlierJobEvenAfterItFinished) {
  ApiHarness h;
  const auto first = std::get<Submitted>(h.scheduler.submit(with_key(work(), "k")));
  EXPECT_FALSE(first.replayed);
  h.executor->finish(first.job->seq, jobd::proto::Outcome::success({}));
  const auto again = std::get<Submitted>(h.scheduler.submit(with_key(work(), "k")));
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.job, first.job);
  EXPECT_EQ(h.executor->tickets().size(), 1u);
}

TEST(SchedulerAdmission, ReplayIsAnsweredEvenWhenTheQueueIsFull) {
  ApiHarness h({}, /*capacity=*/1);
  const auto first = std::get<Submitted>(h.scheduler.submit(with_key(work(), "k")));
  const auto again = h.scheduler.submit(with_key(work(), "k"));
  ASSERT_EQ(refusal_type(again), "(admitted)");
  EXPECT_EQ(std::get<Submitted>(again).job, first.job);
}

TEST(SchedulerAdmission, SameKeyWithOtherParamsIsAConflictAndCreatesNoJob) {
  ApiHarness h;
  h.scheduler.submit(with_key(work(1), "k"));
  const auto conflict = h.scheduler.submit(with_key(work(2), "k"));
  EXPECT_EQ(refusal_type(conflict), "/problems/idempotency-conflict");
  EXPECT_EQ(std::get<Problem>(conflict).pointer, "/idempotency_key");
  EXPECT_EQ(h.table.counts().total, 1u);
}

TEST(SchedulerAdmission, TimeoutAboveTheMaximumIsRefusedAndTheMaximumIsAccepted) {
  ApiHarness h;
  auto too_long = work();
  too_long.timeout_ms = std::chrono::milliseconds(kMaxTimeout).count() + 1;
  const auto refused = h.scheduler.submit(too_long);
  EXPECT_EQ(refusal_type(refused), "/problems/invalid-request");
  EXPECT_EQ(std::get<Problem>(refused).pointer, "/timeout_ms");
  auto longest = work();
  longest.timeout_ms = std::chrono::milliseconds(kMaxTimeout).count();
  EXPECT_EQ(refusal_type(h.scheduler.submit(longest)), "(admitted)");
}

TEST(SchedulerAdmission, JobWithoutTimeoutGetsTheDefaultAsItsDeadline) {
  ApiHarness h;
  const auto before = std::chrono::steady_clock::now();
  const auto* job = std::get<Submitted>(h.scheduler.submit(work())).job;
  EXPECT_EQ(job->timeout, 5s);  // the harness's default
  const auto deadline = h.executor->tickets().at(0).deadline;
  EXPECT_GE(deadline, before + 5s);
  EXPECT_LE(deadline, std::chrono::steady_clock::now() + 5s);
}

TEST(SchedulerDeadline, JobPastItsTimeoutIsStoppedAsTimedOut) {
  ApiHarness h;
  auto quick = work();
  quick.timeout_ms = 20;
  const auto* job = std::get<Submitted>(h.scheduler.submit(quick)).job;
  const auto seq = job->seq;
  run_until(h, [&] { return !h.executor->stops().empty(); });
  ASSERT_EQ(h.executor->stops().size(), 1u);
  EXPECT_EQ(h.executor->stops()[0], std::make_pair(seq, StopReason::timed_out));
  EXPECT_EQ(h.table.get(seq)->state, jobd::proto::JobState::timed_out);
}

TEST(SchedulerDeadline, JobFinishedInTimeIsNeverStopped) {
  ApiHarness h;
  auto quick = work();
  quick.timeout_ms = 20;
  const auto* job = std::get<Submitted>(h.scheduler.submit(quick)).job;
  h.executor->finish(job->seq, jobd::proto::Outcome::success({}));
  run_until(
      h, [] { return false; }, 60ms);
  EXPECT_TRUE(h.executor->stops().empty());
}

TEST(SchedulerCancel, UnknownJobIs404AndFinishedJobIs409) {
  ApiHarness h;
  EXPECT_EQ(std::get<Problem>(h.scheduler.cancel("nope")).kind.status, 404u);
  const auto* job = std::get<Submitted>(h.scheduler.submit(work())).job;
  h.executor->finish(job->seq, jobd::proto::Outcome::success({}));
  EXPECT_EQ(std::get<Problem>(h.scheduler.cancel(job->id)).kind.status, 409u);
}

TEST(SchedulerCancel, StopAllStopsEveryActiveJobWithTheReason) {
  ApiHarness h;
  h.executor->stop_at_once = false;
  h.scheduler.submit(work());
  h.scheduler.submit(work());
  h.scheduler.stop_all(StopReason::shutdown);
  ASSERT_EQ(h.executor->stops().size(), 2u);
  EXPECT_EQ(h.executor->stops()[0].second, StopReason::shutdown);
}
