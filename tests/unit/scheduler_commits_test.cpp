// Scheduler::wait_committed over a real SqliteStore: the waiting coroutine parks its own
// resumption (no timer) and is resumed with true by the batch that commits the insert, with false
// when cancelled first (the client left), and destroyed with the loop when it never resumes.
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
  explicit Rig(asio::io_context& io, const store::StoreOptions& options = {})
      : store(open_or_fail(dir.file("jobs.db"), io, options)),
        table({}, store.get()),
        scheduler(io.get_executor(), table, kinds, {5s, 60s, 1}) {}
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
