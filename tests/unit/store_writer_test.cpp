// SqliteStore's writer and its hand-off: what write() folds before handing a change over, a
// change after a busy batch committed without company, and the loop's hand-off (at once when
// the writer waits for the change, else once a turn by one posted flush; close() flushes what
// is left); and the loop's idle, which ends a gathering (loop_idle).
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "store_test_support.hpp"

using namespace jobd::store;
using namespace jobd::store::testing;

namespace {

TEST(StoreWriter, AnUpdateFoldedIntoTheChangeBeforeItStillSettlesItsOwnTicket) {
  // write() folds an update into the change written just before it (a loop job's start into its
  // insert), so a batch holds fewer changes than it settles tickets: the tickets must still be
  // settled, counted and stored as if each change had been handed over alone.
  use_faulty_vfs();
  TempDir dir;
  const auto path = dir.file("jobs.db");
  Loop loop;
  auto store = open_or_fail(path, loop.io, {.vfs = kFaultyVfs});
  ASSERT_TRUE(store);
  std::size_t reported = 0;
  store->set_observer({.committed = [&](const CommitReport& report) { reported += report.changes; }});
  faults.delay_next_write_ms = 300;  // the writer is busy with this one while the rest pile up
  store->write(insert(job_row(100)));
  const std::vector<Ticket> tickets{store->write(insert(job_row(1, 1))), store->write(update(job_row(1, 2))),
                                    store->write(update(job_row(1, 3))), store->write(insert(job_row(2, 1))),
                                    store->write(update(job_row(1, 2)))};  // not after job 1's: kept apart
  EXPECT_EQ(tickets, (std::vector<Ticket>{2, 3, 4, 5, 6}));
  std::vector<Ticket> order;
  for (Ticket t : tickets) store->when_durable(t, [&order, t] { order.push_back(t); });
  ASSERT_TRUE(loop.run_until([&] { return order.size() == tickets.size(); }));
  EXPECT_EQ(order, tickets);
  EXPECT_EQ(reported, 6u);  // changes written, folded or not
  store->close();
  const auto rows = load_all(path);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows.at(1), job_row(1, 2));  // the last change of job 1 wins, folded or coalesced
  EXPECT_EQ(rows.at(2), job_row(2, 1));
  EXPECT_EQ(rows.at(100), job_row(100));
}

TEST(StoreWriter, AfterABusyBatchALoneChangeIsStillCommitted) {
  // Under load the writer gathers as many changes as its last batch had, within a window; a lone
  // change after a busy batch must not wait for company that never comes.
  use_faulty_vfs();
  TempDir dir;
  Loop loop;
  auto store = open_or_fail(dir.file("jobs.db"), loop.io, {.vfs = kFaultyVfs});
  ASSERT_TRUE(store);
  std::vector<std::size_t> batches;
  store->set_observer({.committed = [&](const CommitReport& report) { batches.push_back(report.changes); }});
  // A slow first commit lets the next 100 pile up. On a loaded machine the writer may take part
  // of them early and leave a small last batch: then another round, until one counts as load.
  std::uint64_t seq = 0;
  bool durable = false;
  for (int round = 0; round < 10 && (batches.empty() || batches.back() < 32u); ++round) {
    faults.delay_next_write_ms = 300;
    Ticket last = store->write(insert(job_row(++seq)));
    for (int i = 0; i < 100; ++i) last = store->write(insert(job_row(++seq)));
    durable = false;
    store->when_durable(last, [&] { durable = true; });
    ASSERT_TRUE(loop.run_until([&] { return durable; }));
  }
  ASSERT_GE(batches.back(), 32u) << "the setup wants a batch that counts as load";
  for (int i = 0; i < 3; ++i) {  // one at a time, each waited for
    ++seq;
    durable = false;
    store->when_durable(store->write(insert(job_row(seq))), [&] { durable = true; });
    ASSERT_TRUE(loop.run_until([&] { return durable; })) << "change " << seq << " was never committed";
  }
  EXPECT_EQ(batches.back(), 1u);
  store->close();
}

TEST(StoreWriter, AChangeTheWriterWaitsForGoesAtOnceTheRestAtTheEndOfTheTurn) {
  // A change a sleeping writer waits for is handed over as it is written (the commit begins
  // without the loop running); changes written while the writer commits stay in the loop's
  // buffer until its flush, and then go together (the faulty VFS counts SQLite's writes).
  use_faulty_vfs();
  TempDir dir;
  Loop loop;
  auto store = open_or_fail(dir.file("jobs.db"), loop.io, {.vfs = kFaultyVfs});
  ASSERT_TRUE(store);
  std::vector<std::size_t> batches;
  store->set_observer({.committed = [&](const CommitReport& report) { batches.push_back(report.changes); }});
  bool durable = false;
  store->when_durable(store->write(insert(job_row(1))), [&] { durable = true; });
  ASSERT_TRUE(loop.run_until([&] { return durable; }));
  std::this_thread::sleep_for(50ms);  // the writer is asleep again
  const long writes_before = faults.writes.load();
  faults.delay_next_write_ms = 300;  // its next commit takes long
  store->write(insert(job_row(2)));
  ASSERT_TRUE(commit_began_since(writes_before)) << "the change waited for the loop's turn";
  Ticket last = 0;
  for (std::uint64_t seq = 3; seq <= 22; ++seq) last = store->write(insert(job_row(seq)));
  durable = false;
  store->when_durable(last, [&] { durable = true; });
  ASSERT_TRUE(loop.run_until([&] { return durable; }));
  EXPECT_EQ(batches, (std::vector<std::size_t>{1, 1, 20}));
  store->close();
}

TEST(StoreWriter, AChangeWrittenAfterTheFlushRanIsHandedOverByTheNextOne) {
  // The flush is armed by the first change after the last flush: a change written while one is
  // posted joins it, and one written later (here, by a completion of the first batch) arms the
  // next. Every ticket is settled, in order, and every row stored.
  TempDir dir;
  const auto path = dir.file("jobs.db");
  Loop loop;
  auto store = open_or_fail(path, loop.io);
  ASSERT_TRUE(store);
  std::vector<Ticket> order;
  const Ticket first = store->write(insert(job_row(1)));
  const Ticket joined = store->write(insert(job_row(2)));  // while the flush is posted
  Ticket later = 0;
  store->when_durable(first, [&] {
    order.push_back(first);
    later = store->write(update(job_row(1, 3)));
    store->when_durable(later, [&] { order.push_back(later); });
  });
  store->when_durable(joined, [&] { order.push_back(joined); });
  ASSERT_TRUE(loop.run_until([&] { return order.size() == 3; }));
  EXPECT_EQ(order, (std::vector<Ticket>{first, joined, later}));
  store->close();
  const auto rows = load_all(path);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.at(1), job_row(1, 3));
  EXPECT_EQ(rows.at(2), job_row(2));
}

TEST(StoreWriter, CloseCommitsWhatTheLoopHadNotHandedOverYet) {
  // The loop stopped with changes (and evictions) still in its buffer, their flush never run:
  // close() hands them over and commits them, as it commits everything written.
  TempDir dir;
  const auto path = dir.file("jobs.db");
  {
    Loop loop;
    auto store = open_or_fail(path, loop.io);
    ASSERT_TRUE(store);
    bool durable = false;
    store->when_durable(store->write(insert(job_row(1, 3))), [&] { durable = true; });
    ASSERT_TRUE(loop.run_until([&] { return durable; }));
    for (std::uint64_t seq = 2; seq <= 30; ++seq) store->write(insert(job_row(seq)));
    store->write(update(job_row(5, 3)));
    store->evict(1);
    EXPECT_TRUE(store->close().ok);
  }
  const auto rows = load_all(path);
  ASSERT_EQ(rows.size(), 29u);
  EXPECT_EQ(rows.count(1), 0u) << "the eviction in the buffer was lost";
  EXPECT_EQ(rows.at(2), job_row(2));
  EXPECT_EQ(rows.at(5), job_row(5, 3));
  EXPECT_EQ(rows.at(30), job_row(30));
}

// The tests below stretch every gathering to a window no test waits for, so that a change that
// is committed at all was committed because the loop went idle (or the gathering's count).
constexpr auto kLongWindow = std::chrono::microseconds(std::chrono::seconds(60));

TEST(StoreWriter, TheLoopGoingIdleEndsAGathering) {
  // A lone change: the writer gathers for company (light load) that will not come, since the
  // loop has nothing left to run. Its idle ends the gathering, so the change is committed now.
  TempDir dir;
  Loop loop;
  auto store = open_or_fail(dir.file("jobs.db"), loop.io, {.gather_window = kLongWindow});
  ASSERT_TRUE(store);
  std::vector<GatheringEnd> ends;
  store->set_observer({.committed = [&](const CommitReport& report) { ends.push_back(report.gathering); }});
  bool durable = false;
  store->when_durable(store->write(insert(job_row(1))), [&] { durable = true; });
  loop.run_for(50ms);  // the writer woke for the change and is gathering
  EXPECT_FALSE(durable) << "committed without the loop's idle: the test's window did not apply";
  store->loop_idle();
  EXPECT_TRUE(loop.run_until([&] { return durable; }, 5s)) << "the idle loop did not end the gathering";
  EXPECT_EQ(ends, std::vector<GatheringEnd>{GatheringEnd::loop_idle});
  store->close();
}

TEST(StoreWriter, AnIdleLoopBeforeTheGatheringBeganStillEndsIt) {
  // The loop goes idle while the writer is still busy with the previous commit: there is no
  // gathering to end yet, so the writer is told to commit what it then finds without one.
  use_faulty_vfs();
  TempDir dir;
  Loop loop;
  auto store = open_or_fail(dir.file("jobs.db"), loop.io, {.vfs = kFaultyVfs, .gather_window = kLongWindow});
  ASSERT_TRUE(store);
  std::vector<Ticket> order;
  const Ticket first = store->write(insert(job_row(1)));
  store->when_durable(first, [&] { order.push_back(first); });
  loop.run_for(50ms);
  faults.delay_next_write_ms = 300;  // the commit the idle loop starts takes long
  store->loop_idle();
  const long writes_before = faults.writes.load();
  ASSERT_TRUE(commit_began_since(writes_before)) << "the first gathering was not ended";
  const Ticket second = store->write(insert(job_row(2)));  // while the first commits
  store->when_durable(second, [&] { order.push_back(second); });
  store->loop_idle();  // hands it over; the writer is not gathering
  EXPECT_TRUE(loop.run_until([&] { return order.size() == 2; }, 5s)) << "the second change waited";
  EXPECT_EQ(order, (std::vector<Ticket>{first, second}));
  store->close();
}

// A store whose last batch counted as load, then a lone change, which the writer is gathering
// company for (the loop's idle not told yet).
struct LoneChangeAfterLoad {
  TempDir dir;
  Loop loop;
  std::unique_ptr<JobStore> store;
  std::vector<std::size_t> batches;
  std::vector<GatheringEnd> gatherings;
  bool durable = false;

  explicit LoneChangeAfterLoad(const StoreOptions& options) {
    store = open_or_fail(dir.file("jobs.db"), loop.io, options);
    if (!store) return;
    store->set_observer({.committed = [this](const CommitReport& report) {
      batches.push_back(report.changes);
      gatherings.push_back(report.gathering);
    }});
    // 100 changes in one turn: one gathering, or two when the writer woke by the first one and
    // took part of them; on a loaded machine the second part can be small, so the setup writes
    // another 100 until the last batch counts as load (a few rounds at most).
    std::uint64_t seq = 0;
    for (int round = 0; round < 10 && (batches.empty() || batches.back() < 32u); ++round) {
      Ticket last = 0;
      for (int i = 0; i < 100; ++i) last = store->write(insert(job_row(++seq)));
      durable = false;
      store->when_durable(last, [this] { durable = true; });
      store->loop_idle();
      EXPECT_TRUE(loop.run_until([this] { return durable; }, 5s));
    }
    EXPECT_GE(batches.back(), 32u) << "the setup wants a batch that counts as load";
    durable = false;
    store->when_durable(store->write(insert(job_row(++seq))), [this] { durable = true; });
    loop.run_for(50ms);
    EXPECT_FALSE(durable) << "committed without the loop's idle: the test's window did not apply";
  }
  ~LoneChangeAfterLoad() {
    if (store) store->close();
  }
};

TEST(StoreWriter, UnderLoadOnOneCpuTheIdleLoopLetsTheGatheringRun) {
  // With loop and writer on one CPU, a gathering under load keeps its target and window: a
  // commit now would take the core the loop is about to need, and a bigger batch costs less.
  LoneChangeAfterLoad lone({.writer_has_own_cpu = false, .gather_window = std::chrono::milliseconds(1500)});
  ASSERT_TRUE(lone.store);
  lone.store->loop_idle();
  lone.loop.run_for(500ms);
  EXPECT_FALSE(lone.durable) << "the idle loop ended a gathering under load on one CPU";
  EXPECT_TRUE(lone.loop.run_until([&] { return lone.durable; }, 5s)) << "the window did not end it either";
  EXPECT_EQ(lone.gatherings.back(), GatheringEnd::window);
}

TEST(StoreWriter, UnderLoadWithACpuOfItsOwnTheWriterCommitsWhenTheLoopIsIdle) {
  LoneChangeAfterLoad lone({.writer_has_own_cpu = true, .gather_window = kLongWindow});
  ASSERT_TRUE(lone.store);
  lone.store->loop_idle();
  EXPECT_TRUE(lone.loop.run_until([&] { return lone.durable; }, 5s))
      << "the idle loop did not end the gathering";
  EXPECT_EQ(lone.batches.back(), 1u);
  EXPECT_EQ(lone.gatherings.back(), GatheringEnd::loop_idle);
}

}  // namespace
