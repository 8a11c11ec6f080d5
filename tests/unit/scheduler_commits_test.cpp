// Scheduler::wait_committed over a real SqliteStore: the waiting coroutine parks its own
// resumption (no timer) and is resumed with true by the batch that commits the insert, with false
// when cancelled first (the client left), and destroyed with the loop when it never resumes.
// And the inserts a submit that waits for the end holds (JobTable::create): which are held, and
// that the hold ends by itself after --insert-hold, and at the drain.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "fake_executor.hpp"
#include "jobs/job_table.hpp"
#include "jobs/scheduler.hpp"
#include "kinds/builtin.hpp"
#include "store_test_support.hpp"

using namespace jobd;
using namespace jobd::jobs;
using namespace jobd::store::testing;
using namespace std::chrono_literals;

namespace {

struct Flag {  // set when the coroutine frame holding it is destroyed
  bool* gone;
  ~Flag() { *gone = true; }
};

asio::awaitable<void> wait_for(Scheduler& scheduler, JobSeq seq, std::optional<bool>& result, bool& gone) {
  const Flag flag{&gone};
  const bool committed = co_await scheduler.wait_committed(seq);
  result = committed;
}

struct Rig {
  explicit Rig(asio::io_context& io, const store::StoreOptions& options = {},
               std::chrono::milliseconds insert_hold = 5ms)
      : store(open_or_fail(dir.file("jobs.db"), io, options)),
        table({}, store.get()),
        scheduler(io.get_executor(), table, kinds,
                  {5s, 60s, 1, kDefaultRetryMaxDelay, 100'000, insert_hold}) {}
  const Job& add() {
    return table.create(echo, proto::Executor::loop, R"({"x":1})", 1s, std::nullopt, Clock::now());
  }

  TempDir dir;
  kinds::KindRegistry kinds;
  kinds::Kind echo = kinds::make_echo_kind();
  std::unique_ptr<store::JobStore> store;
  JobTable table;
  Scheduler scheduler;
};

// A Rig whose scheduler admits echo jobs onto a FakeExecutor that runs nothing by itself.
struct SubmitRig : Rig {
  explicit SubmitRig(asio::io_context& io, std::chrono::milliseconds insert_hold = 5ms)
      : Rig(io, {}, insert_hold) {
    kinds.add(kinds::make_echo_kind());
    auto fake =
        std::make_unique<jobd::testing::FakeExecutor>(io.get_executor(), scheduler, proto::Executor::loop, 8);
    executor = fake.get();
    scheduler.add_executor(std::move(fake));
  }
  const Job& submit(proto::JobSpec spec, bool waits_for_end) {
    auto submitted = scheduler.submit(std::move(spec), waits_for_end);
    return *std::get<Submitted>(submitted).job;
  }
  jobd::testing::FakeExecutor* executor = nullptr;
};

proto::JobSpec echo_spec() { return proto::JobSpec{.kind = "echo", .params = {{"x", 1}}}; }

// Runs the loop until `done` (the store's completions come from its writer thread).
bool run_until(asio::io_context& io, const std::function<bool()>& done) {
  io.restart();
  const auto busy = asio::make_work_guard(io);
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!done() && std::chrono::steady_clock::now() < until) io.run_one_for(5ms);
  return done();
}

}  // namespace

TEST(SchedulerCommits, AWaitResumesWithTrueOnceTheInsertIsCommitted) {
  asio::io_context io{1};
  Rig s(io);
  const JobSeq seq = s.add().seq;
  ASSERT_FALSE(s.table.committed(seq));
  std::optional<bool> result;
  bool gone = false;
  asio::co_spawn(io, wait_for(s.scheduler, seq, result, gone), asio::detached);
  ASSERT_TRUE(run_until(io, [&] { return result.has_value(); }));
  EXPECT_TRUE(*result);
  EXPECT_TRUE(s.table.committed(seq));
  // A second wait on a committed job does not park at all.
  std::optional<bool> again;
  asio::co_spawn(io, wait_for(s.scheduler, seq, again, gone), asio::detached);
  io.restart();
  io.poll();
  EXPECT_EQ(again, true);
  s.store->close();
}

TEST(SchedulerCommits, ACancelledWaitResumesWithFalseAndItsCommitLaterWakesNobody) {
  use_faulty_vfs();
  asio::io_context io{1};
  Rig s(io, {.vfs = kFaultyVfs});
  const JobSeq seq = s.add().seq;
  faults.delay_next_write_ms = 300;  // the commit is still under way when the client leaves
  std::optional<bool> result;
  bool gone = false;
  asio::cancellation_signal leave;
  asio::co_spawn(io, wait_for(s.scheduler, seq, result, gone),
                 asio::bind_cancellation_slot(leave.slot(), asio::detached));
  io.poll();  // parks the wait and hands the insert to the writer
  ASSERT_FALSE(result.has_value());
  leave.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until(io, [&] { return gone; }));
  EXPECT_EQ(result, false);
  EXPECT_FALSE(s.table.committed(seq)) << "the setup wants the cancel before the commit";
  leave.emit(asio::cancellation_type::terminal);  // a second cancel finds nothing parked
  bool committed = false;
  s.table.when_committed(seq, [&] { committed = true; });
  ASSERT_TRUE(run_until(io, [&] { return committed; }));  // and the commit wakes no gone waiter
  s.store->close();
}

TEST(SchedulerCommits, AWaitStillParkedWhenTheLoopIsDestroyedIsDestroyedWithIt) {
  // As a pending timer's handler is destroyed with its io_context, so is a parked wait: its
  // coroutine's frames are freed, not leaked, and the table's list no longer holds it.
  auto io = std::make_unique<asio::io_context>(1);
  TempDir dir;
  kinds::KindRegistry kinds;
  const kinds::Kind echo = kinds::make_echo_kind();
  auto store = open_or_fail(dir.file("jobs.db"), *io);
  ASSERT_TRUE(store);
  auto table = std::make_unique<JobTable>(RetentionLimits{}, store.get());
  auto scheduler =
      std::make_unique<Scheduler>(io->get_executor(), *table, kinds, SchedulerOptions{5s, 60s, 1});
  const JobSeq seq = table->create(echo, proto::Executor::loop, "{}", 1s, std::nullopt, Clock::now()).seq;
  std::optional<bool> result;
  bool gone = false;
  asio::co_spawn(*io, wait_for(*scheduler, seq, result, gone), asio::detached);
  io->poll();  // parked, and the insert handed to the writer; its completion is never run
  ASSERT_FALSE(gone);
  EXPECT_TRUE(store->close().ok);  // the writer posts nothing more
  scheduler.reset();               // its timers belong to the loop
  io.reset();
  EXPECT_TRUE(gone) << "the parked coroutine was leaked";
  EXPECT_FALSE(result.has_value());
  table.reset();
}

TEST(SchedulerCommits, OnlyASubmitThatWaitsForTheEndOfAnUnkeyedJobThatRunsAtOnceHoldsItsInsert) {
  asio::io_context io{1};
  SubmitRig s(io);
  EXPECT_TRUE(JobTable::insert_held(s.submit(echo_spec(), true)));
  EXPECT_FALSE(JobTable::insert_held(s.submit(echo_spec(), false))) << "a 202 at once waits for the insert";
  auto keyed = echo_spec();
  keyed.idempotency_key = "k1";
  EXPECT_FALSE(JobTable::insert_held(s.submit(keyed, true))) << "a keyed job's row is written first";
  auto delayed = echo_spec();
  delayed.delay_ms = 60'000;
  EXPECT_FALSE(JobTable::insert_held(s.submit(delayed, true))) << "a delayed job is written first";
  s.store->close();
  asio::io_context io_off{1};
  SubmitRig off(io_off, 0ms);
  EXPECT_FALSE(JobTable::insert_held(off.submit(echo_spec(), true))) << "--insert-hold 0 holds nothing";
  off.store->close();
}

TEST(SchedulerCommits, AHeldInsertIsWrittenAndCommittedOnceTheHoldRunsOut) {
  asio::io_context io{1};
  SubmitRig s(io);
  const auto began = std::chrono::steady_clock::now();
  const JobSeq seq = s.submit(echo_spec(), true).seq;
  ASSERT_TRUE(s.table.list({}).jobs.empty());
  // The job never ends (the fake executor runs nothing): the hold's timer writes it.
  ASSERT_TRUE(run_until(io, [&] { return s.table.committed(seq); }));
  EXPECT_GE(std::chrono::steady_clock::now() - began, s.scheduler.options().insert_hold);
  ASSERT_EQ(s.table.list({}).jobs.size(), 1u);
  EXPECT_EQ(s.table.list({}).jobs[0]->seq, seq);
  EXPECT_FALSE(proto::is_final(s.table.get(seq)->state));
  // Held jobs that came later are released by the re-armed timer, each after its own hold.
  const JobSeq later = s.submit(echo_spec(), true).seq;
  ASSERT_TRUE(run_until(io, [&] { return s.table.committed(later); }));
  s.store->close();
}

TEST(SchedulerCommits, AJobEndingWithinTheHoldIsCommittedFinalAndTheTimerFindsNothingLeft) {
  asio::io_context io{1};
  SubmitRig s(io);
  std::size_t changes = 0;  // committed, as the metrics count them
  s.store->set_observer(
      {.committed = [&changes](const store::CommitReport& report) { changes += report.changes; }});
  const JobSeq seq = s.submit(echo_spec(), true).seq;
  s.executor->finish(seq, proto::Outcome::success(3));
  EXPECT_FALSE(JobTable::insert_held(*s.table.get(seq)));
  ASSERT_TRUE(run_until(io, [&] { return s.table.committed(seq) && !s.table.final_pending(seq); }));
  EXPECT_EQ(s.table.get(seq)->state, proto::JobState::succeeded);
  EXPECT_EQ(changes, 1u) << "one row, written final";
  // The hold's timer, still armed for this job, fires on nothing to do: nothing more is written.
  asio::steady_timer past(io, s.scheduler.options().insert_hold * 3);
  bool passed = false;
  past.async_wait([&passed](boost::system::error_code) { passed = true; });
  ASSERT_TRUE(run_until(io, [&] { return passed; }));
  EXPECT_EQ(s.table.get(seq)->state, proto::JobState::succeeded);
  EXPECT_EQ(changes, 1u) << "the timer wrote the job again";
  s.store->close();
}

TEST(SchedulerCommits, TheDrainWritesEveryHeldInsertAtOnce) {
  asio::io_context io{1};
  SubmitRig s(io);
  const JobSeq a = s.submit(echo_spec(), true).seq;
  const JobSeq b = s.submit(echo_spec(), true).seq;
  s.scheduler.begin_drain();
  EXPECT_FALSE(JobTable::insert_held(*s.table.get(a)));
  EXPECT_FALSE(JobTable::insert_held(*s.table.get(b)));
  ASSERT_TRUE(run_until(io, [&] { return s.table.committed(a) && s.table.committed(b); }));
  s.store->close();
}
