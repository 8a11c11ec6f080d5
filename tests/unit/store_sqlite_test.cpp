// SqliteStore and MemoryStore on the happy path: what is written comes back, acknowledgements
// wait for the commit and arrive in ticket order, and changes that pile up are committed together.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "store/memory_store.hpp"
#include "store_test_support.hpp"

using namespace jobd::store;
using namespace jobd::store::testing;

namespace {

// Every column set, the optional ones present.
JobRow full_row(std::uint64_t seq) {
  JobRow row = job_row(seq, 3);
  row.idempotency_key = "client-key-\xc3\xa9";  // UTF-8 survives
  row.run_at_ms = 1'900'000'000'000;
  row.attempt = 2;
  row.max_attempts = 20;
  row.retry_delay_ms = 1500;
  row.error_type = "crashed";
  row.error_message = "worker killed by SIGSEGV";
  row.attempts_json = R"([{"attempt":1,"error":{"type":"crashed"}}])";
  row.executor = jobd::proto::Executor::subprocess;
  row.state = jobd::proto::JobState::timed_out;
  row.timeout_ms = -1;  // not validated here: the store keeps what it is given
  return row;
}

TEST(StoreSqlite, EveryColumnRoundTripsThroughAReopen) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  const JobRow full = full_row(7);
  JobRow bare = job_row(8, 1);  // optional columns absent, text columns empty
  bare.idempotency_key.reset();
  bare.params_json = "";
  {
    Loop loop;
    auto store = open_or_fail(path, loop.io);
    ASSERT_TRUE(store);
    EXPECT_TRUE(store->durable());
    store->write(insert(full));
    const auto last = store->write(insert(bare));
    bool durable = false;
    store->when_durable(last, [&] { durable = true; });
    ASSERT_TRUE(loop.run_until([&] { return durable; }));
    EXPECT_TRUE(store->close().ok);
  }
  const auto rows = load_all(path);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.at(7), full);
  EXPECT_EQ(rows.at(8), bare);
  EXPECT_EQ(integrity(path), "ok");
}

TEST(StoreSqlite, UpdateChangesOnlyTheMutableColumnsAndRemoveDeletes) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  {
    Loop loop;
    auto store = open_or_fail(path, loop.io);
    ASSERT_TRUE(store);
    for (std::uint64_t seq = 1; seq <= 3; ++seq) store->write(insert(job_row(seq, 1)));
    JobRow running = job_row(2, 3);
    running.kind = "changed";  // fixed columns of an update are ignored
    running.params_json = "{}";
    store->write(update(running));
    const auto last = store->write({ChangeOp::remove, JobRow{.seq = 3}});
    bool durable = false;
    store->when_durable(last, [&] { durable = true; });
    ASSERT_TRUE(loop.run_until([&] { return durable; }));
    store->close();
  }
  LoadResult loaded;
  const auto rows = load_all(path, &loaded);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.at(1), job_row(1, 1));
  EXPECT_EQ(rows.at(2), job_row(2, 3));
  EXPECT_EQ(loaded.rows, 2u);
  EXPECT_EQ(loaded.max_seq, 3u);  // the removed newest job's seq is not handed out again
}

TEST(StoreSqlite, RunsOfRemovesDeleteExactlyTheirRows) {
  // The writer deletes a run of removes of consecutive seqs with one range statement: a seq
  // between two runs, a change between removes and a descending pair must survive or count alone.
  TempDir dir;
  const auto path = dir.file("jobs.db");
  {
    Loop loop;
    auto store = open_or_fail(path, loop.io);
    ASSERT_TRUE(store);
    Ticket last = 0;
    for (std::uint64_t seq = 1; seq <= 12; ++seq) last = store->write(insert(job_row(seq, 1)));
    bool durable = false;
    store->when_durable(last, [&] { durable = true; });
    ASSERT_TRUE(loop.run_until([&] { return durable; }));
    for (std::uint64_t seq : {2, 3, 4}) store->write({ChangeOp::remove, JobRow{.seq = seq}});
    store->write(update(job_row(5, 3)));
    for (std::uint64_t seq : {6, 7, 9, 11, 10}) last = store->write({ChangeOp::remove, JobRow{.seq = seq}});
    durable = false;
    store->when_durable(last, [&] { durable = true; });
    ASSERT_TRUE(loop.run_until([&] { return durable; }));
    store->close();
  }
  const auto rows = load_all(path);
  std::vector<std::uint64_t> kept;
  kept.reserve(rows.size());
  for (const auto& [seq, row] : rows) kept.push_back(seq);
  EXPECT_EQ(kept, (std::vector<std::uint64_t>{1, 5, 8, 12}));
  EXPECT_EQ(rows.at(5), job_row(5, 3));
}

TEST(StoreSqlite, CallbacksRunOnlyAfterTheCommitAndInTicketOrder) {
  use_faulty_vfs();
  TempDir dir;
  const auto path = dir.file("jobs.db");
  Loop loop;
  auto store = open_or_fail(path, loop.io, {.vfs = kFaultyVfs});
  ASSERT_TRUE(store);
  faults.delay_next_write_ms = 300;  // the first commit takes 300 ms
  std::vector<Ticket> tickets;
  for (std::uint64_t seq = 1; seq <= 5; ++seq) tickets.push_back(store->write(insert(job_row(seq))));
  EXPECT_EQ(tickets, (std::vector<Ticket>{1, 2, 3, 4, 5}));
  std::vector<Ticket> order;
  for (Ticket t : {Ticket{4}, Ticket{2}, Ticket{5}, Ticket{1}, Ticket{2}, Ticket{3}})
    store->when_durable(t, [&order, t] { order.push_back(t); });
  loop.run_for(150ms);
  EXPECT_TRUE(order.empty()) << "acknowledged while the commit was still writing";
  ASSERT_TRUE(loop.run_until([&] { return order.size() == 6; }));
  EXPECT_EQ(order, (std::vector<Ticket>{1, 2, 2, 3, 4, 5}));
  // A ticket that is already durable runs at once, before when_durable returns.
  bool at_once = false;
  store->when_durable(3, [&] { at_once = true; });
  EXPECT_TRUE(at_once);
  store->close();
  EXPECT_EQ(load_all(path).size(), 5u);
}

TEST(StoreSqlite, ChangesWrittenDuringASlowCommitAreCommittedAsOneBatch) {
  use_faulty_vfs();
  TempDir dir;
  Loop loop;
  auto store = open_or_fail(dir.file("jobs.db"), loop.io, {.vfs = kFaultyVfs});
  ASSERT_TRUE(store);
  std::vector<std::size_t> batches;
  store->set_observer({.committed = [&](const CommitReport& report) { batches.push_back(report.changes); }});
  faults.delay_next_write_ms = 300;
  constexpr std::uint64_t kChanges = 10000;
  Ticket last = 0;
  for (std::uint64_t seq = 1; seq <= kChanges; ++seq) last = store->write(insert(job_row(seq)));
  bool durable = false;
  store->when_durable(last, [&] { durable = true; });
  ASSERT_TRUE(loop.run_until([&] { return durable; }));
  std::size_t total = 0;
  for (auto size : batches) total += size;
  EXPECT_EQ(total, kChanges);
  // The first commit holds the first change(s); everything written meanwhile goes in the next.
  EXPECT_LE(batches.size(), 3u);
  store->close();
}

TEST(StoreSqlite, ObserverHearsEachBatchWithItsLatency) {
  TempDir dir;
  Loop loop;
  auto store = open_or_fail(dir.file("jobs.db"), loop.io);
  ASSERT_TRUE(store);
  std::vector<CommitReport> reports;
  store->set_observer({.committed = [&](const CommitReport& report) { reports.push_back(report); }});
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    bool durable = false;
    store->when_durable(store->write(insert(job_row(seq))), [&] { durable = true; });
    ASSERT_TRUE(loop.run_until([&] { return durable; }));
  }
  ASSERT_EQ(reports.size(), 3u);  // one change at a time, waited for: one batch each
  for (const auto& report : reports) {
    EXPECT_EQ(report.changes, 1u);
    EXPECT_GT(report.latency.count(), 0);
  }
  EXPECT_TRUE(store->health().ok);
  store->close();
}

TEST(StoreSqlite, CloseCommitsWhatIsStillQueued) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  {
    Loop loop;
    auto store = open_or_fail(path, loop.io);
    ASSERT_TRUE(store);
    for (std::uint64_t seq = 1; seq <= 1000; ++seq) store->write(insert(job_row(seq)));
    EXPECT_TRUE(store->close().ok);  // no loop ran: nothing was acknowledged, all is committed
  }
  EXPECT_EQ(load_all(path).size(), 1000u);
  EXPECT_EQ(integrity(path), "ok");
}

TEST(StoreSqlite, ReopenedStoreContinuesAfterTheLoadedRows) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  for (std::uint64_t round = 0; round < 3; ++round) {
    Loop loop;
    auto store = open_or_fail(path, loop.io);
    ASSERT_TRUE(store);
    std::uint64_t seen = 0;
    const auto loaded = store->load([&](JobRow& row) { EXPECT_EQ(row, job_row(++seen, 2)); });
    EXPECT_EQ(loaded.rows, round * 10);
    EXPECT_EQ(loaded.max_seq, round * 10);
    for (std::uint64_t seq = loaded.max_seq + 1; seq <= loaded.max_seq + 10; ++seq) {
      store->write(insert(job_row(seq)));
      store->write(update(job_row(seq, 2)));
    }
    EXPECT_TRUE(store->close().ok);
  }
}

// store_meta's max_seq is written only when a row above it is removed (sqlite_writer.cpp,
// commit()): the newest seq must still never come back, whether its row was removed in the
// batch that inserted it, in a later batch, or after a restart (a restored row above the mark).
TEST(StoreSqlite, TheHighWaterMarkSurvivesRemovingTheNewestRowsInAnyRun) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  // One run: loads, then each group of changes is committed before the next is written.
  const auto run = [&](const std::vector<std::vector<Change>>& groups) {
    Loop loop;
    auto store = open_or_fail(path, loop.io);
    LoadResult loaded;
    if (!store) return loaded;
    loaded = store->load([](JobRow&) {});
    for (const auto& group : groups) {
      Ticket last = 0;
      for (const auto& change : group) last = store->write(change);
      bool durable = false;
      store->when_durable(last, [&] { durable = true; });
      EXPECT_TRUE(loop.run_until([&] { return durable; }));
    }
    EXPECT_TRUE(store->close().ok);
    return loaded;
  };
  const auto remove = [](std::uint64_t seq) { return Change{ChangeOp::remove, JobRow{.seq = seq}}; };
  run({{insert(job_row(1)), insert(job_row(2)), insert(job_row(3))}, {remove(3)}});
  EXPECT_EQ(run({}).max_seq, 3u) << "removed in a later batch";
  run({{insert(job_row(4)), insert(job_row(5)), remove(5)}});
  EXPECT_EQ(run({}).max_seq, 5u) << "inserted and removed in one batch (folded to nothing)";
  run({{insert(job_row(6)), insert(job_row(7))}});
  EXPECT_EQ(run({{remove(7), remove(6)}}).max_seq, 7u) << "the restored rows";
  const auto last = run({});
  EXPECT_EQ(last.max_seq, 7u) << "restored rows removed after a restart";
  EXPECT_EQ(last.rows, 3u);  // 1, 2, 4
}

// evict() defers a finished job's delete (sqlite_store.hpp, kEvictFlush): the writer deletes
// the evictions in ranges once enough piled up, close() deletes the rest, evictions made before
// the first write (start-up) are deleted too, and the high-water mark survives a deferred
// delete of the newest row.
TEST(StoreSqlite, EvictedRowsAreDeletedLaterInRangesAndAllOfThemByClose) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  std::set<std::uint64_t> kept;
  {
    Loop loop;
    auto store = open_or_fail(path, loop.io);
    ASSERT_TRUE(store);
    for (std::uint64_t seq = 1; seq <= 3000; ++seq) store->write(insert(job_row(seq)));
    // More than one flush's worth, with gaps (every 7th kept), and the newest row.
    for (std::uint64_t seq = 1; seq <= 2500; ++seq) {
      if (seq % 7 == 0)
        kept.insert(seq);
      else
        store->evict(seq);
    }
    store->evict(3000);
    for (std::uint64_t seq = 2501; seq < 3000; ++seq) kept.insert(seq);
    const Ticket last = store->write(update(job_row(2999, 2)));
    bool durable = false;
    store->when_durable(last, [&] { durable = true; });
    ASSERT_TRUE(loop.run_until([&] { return durable; }));
    EXPECT_TRUE(store->close().ok);
  }
  LoadResult loaded;
  auto rows = load_all(path, &loaded);
  std::set<std::uint64_t> seqs;
  for (const auto& [seq, row] : rows) seqs.insert(seq);
  EXPECT_EQ(seqs, kept);
  EXPECT_EQ(loaded.max_seq, 3000u) << "the newest seq is not handed out again";
  EXPECT_EQ(rows.at(2999).state, job_row(2999, 2).state);
  {
    Loop loop;
    auto store = open_or_fail(path, loop.io);
    ASSERT_TRUE(store);
    store->load([](JobRow&) {});
    store->evict(2501);  // before any write: the writer has not started
    store->evict(7);
    EXPECT_TRUE(store->close().ok);
  }
  rows = load_all(path);
  EXPECT_EQ(rows.size(), kept.size() - 2);
  EXPECT_FALSE(rows.contains(2501) || rows.contains(7));
  EXPECT_EQ(integrity(path), "ok");
}

TEST(StoreSqlite, TheWalIsCheckpointedIntoTheDatabaseWhileRunning) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  Loop loop;
  auto store = open_or_fail(path, loop.io);
  ASSERT_TRUE(store);
  // ~50 MiB of rows, in batches: well past the 32 MiB of WAL at which the writer checkpoints.
  for (std::uint64_t seq = 1; seq <= 25000; seq += 500) {
    Ticket last = 0;
    for (std::uint64_t i = seq; i < seq + 500; ++i) last = store->write(insert(job_row(i, 1, 2000)));
    bool durable = false;
    store->when_durable(last, [&] { durable = true; });
    ASSERT_TRUE(loop.run_until([&] { return durable; }, 30s));
  }
  EXPECT_GT(std::filesystem::file_size(path), 16u << 20) << "pages stayed in the WAL";
  EXPECT_LT(std::filesystem::file_size(path + "-wal"), 70u << 20) << "the WAL grew without bound";
  EXPECT_TRUE(store->close().ok);
  EXPECT_EQ(load_all(path).size(), 25000u);
}

TEST(StoreSqlite, LoadIsRefusedOnceWritingStarted) {
  TempDir dir;
  Loop loop;
  auto store = open_or_fail(dir.file("jobs.db"), loop.io);
  ASSERT_TRUE(store);
  store->write(insert(job_row(1)));
  EXPECT_NE(store->load([](JobRow&) {}).error, "");
  store->close();
}

TEST(StoreMemory, KeepsNothingAndAcknowledgesAtOnce) {
  MemoryStore store;
  EXPECT_FALSE(store.durable());
  EXPECT_EQ(store.write(insert(job_row(1))), 1u);
  EXPECT_EQ(store.write(insert(job_row(2))), 2u);
  bool durable = false;
  store.when_durable(2, [&] { durable = true; });
  EXPECT_TRUE(durable);
  EXPECT_TRUE(store.health().ok);
  EXPECT_EQ(store.load([](JobRow&) { FAIL(); }).rows, 0u);
}

TEST(StoreUri, NamesTheStoreOrSaysWhatIsWrong) {
  boost::asio::io_context io;
  TempDir dir;
  auto memory = open_store("memory:", {}, io.get_executor());
  ASSERT_TRUE(memory.store);
  EXPECT_FALSE(memory.store->durable());
  auto sqlite = open_store("sqlite:" + dir.file("a.db"), {}, io.get_executor());
  ASSERT_TRUE(sqlite.store) << sqlite.error;
  EXPECT_TRUE(sqlite.store->durable());
  EXPECT_EQ(open_store("sqlite:", {}, io.get_executor()).error,
            "--store sqlite: needs a file path, e.g. sqlite:jobd.db");
  EXPECT_EQ(open_store("redis://x", {}, io.get_executor()).error,
            "--store 'redis://x': unknown store (memory: or sqlite:PATH)");
}

}  // namespace
