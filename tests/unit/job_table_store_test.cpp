// The job table over a durable store (a real SqliteStore in a temporary directory): every
// transition becomes a row, nothing is shown before it is committed, and a table rebuilt from
// the rows has the same jobs, order, keys and seqs.
#include <gtest/gtest.h>

#include "jobs/job_table.hpp"
#include "jobs/record.hpp"
#include "kinds/builtin.hpp"
#include "store_test_support.hpp"

using namespace jobd;
using namespace jobd::jobs;
using namespace jobd::store::testing;
using namespace std::chrono_literals;
using proto::JobState;

namespace {

class JobTableStoreTest : public ::testing::Test {
 protected:
  TempDir dir;
  Loop loop;
  std::string path = dir.file("jobs.db");
  std::unique_ptr<store::JobStore> store = open_or_fail(path, loop.io);
  kinds::Kind echo = kinds::make_echo_kind();
  Clock::time_point t0 = Clock::now();

  const Job& add(JobTable& table, std::optional<std::string> key = std::nullopt) {
    return table.create(echo, proto::Executor::loop, R"({"x":1})", 1s, std::move(key), t0);
  }
  bool all_committed(JobTable& table) {
    bool done = false;
    table.when_all_committed([&done] { done = true; });
    return loop.run_until([&done] { return done; });
  }
};

}  // namespace

TEST_F(JobTableStoreTest, ANewJobIsListedOnlyOnceItsInsertIsCommitted) {
  JobTable table({}, store.get());
  ASSERT_TRUE(table.durable());
  const Job& job = add(table, "key-1");
  const JobSeq seq = job.seq;
  EXPECT_FALSE(table.committed(seq));
  EXPECT_TRUE(table.list({}).jobs.empty()) << "listed before its insert was committed";
  bool told = false;
  table.when_committed(seq, [&told] { told = true; });
  EXPECT_FALSE(told);
  ASSERT_TRUE(loop.run_until([&told] { return told; }));
  EXPECT_TRUE(table.committed(seq));
  ASSERT_EQ(table.list({}).jobs.size(), 1u);
  store->close();
  const auto rows = load_all(path);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.at(seq).id, job.id);
  EXPECT_EQ(rows.at(seq).idempotency_key, "key-1");
  EXPECT_EQ(rows.at(seq).params_json, R"({"x":1})");
}

TEST_F(JobTableStoreTest, AFinalStateIsShownOnlyOnceItsCommitCompleted) {
  JobTable table({}, store.get());
  const JobSeq seq = add(table).seq;
  table.start(seq, nullptr, t0 + 1ms);
  std::vector<JobState> seen;
  table.watch(seq, [&seen](const Job&, const JobEvent& event) { seen.push_back(event.state); });
  ASSERT_TRUE(table.finish(seq, proto::Outcome::success({{"ok", true}}), t0 + 2ms));
  // Not yet committed: the job reads as running, nobody heard of the end, a second end is ignored.
  EXPECT_EQ(table.get(seq)->state, JobState::running);
  EXPECT_TRUE(seen.empty());
  EXPECT_FALSE(table.finish(seq, proto::Outcome::failure("cancelled", "x", JobState::cancelled), t0));
  EXPECT_EQ(table.counts().active, 1u);
  ASSERT_TRUE(loop.run_until([&] { return table.get(seq)->state == JobState::succeeded; }));
  EXPECT_EQ(seen, std::vector<JobState>{JobState::succeeded});
  EXPECT_EQ(table.counts().finished, 1u);
  store->close();
  const auto row = load_all(path).at(seq);
  EXPECT_EQ(row.state, JobState::succeeded);
  EXPECT_EQ(row.result_json, R"({"ok":true})");
  ASSERT_TRUE(row.started_at_ms && row.finished_at_ms);
  EXPECT_EQ(*row.finished_at_ms - *row.started_at_ms, 1);
}

namespace {
// A commit wait as a session holds one (jobs/commit_waiters.hpp): records what it saw when woken.
class SeenWaiter final : public CommitWaiters::Waiter {
 public:
  SeenWaiter(std::function<void()> see) : see_(std::move(see)) {}
  ~SeenWaiter() override = default;

 private:
  void woken() override { see_(); }
  std::function<void()> see_;
};
}  // namespace

// The table settles a batch (pending inserts committed, pending finals applied) and only then
// wakes the waits on it, in ticket order; a wait on what is settled already is not linked.
TEST_F(JobTableStoreTest, CommitWaitsWakeInTicketOrderOnceTheBatchIsSettled) {
  JobTable table({}, store.get());
  const JobSeq first = add(table).seq;                               // ticket 1
  const JobSeq second = add(table).seq;                              // ticket 2
  ASSERT_TRUE(table.finish(first, proto::Outcome::success(1), t0));  // ticket 3
  std::vector<std::string> seen;
  SeenWaiter final_applied([&] {
    seen.push_back(std::string("final:") + std::string(proto::to_string(table.get(first)->state)));
  });
  SeenWaiter first_committed(
      [&] { seen.push_back(table.committed(first) ? "first" : "first-not-committed"); });
  SeenWaiter second_committed(
      [&] { seen.push_back(table.committed(second) ? "second" : "second-not-committed"); });
  ASSERT_TRUE(table.wait_final_applied(first, final_applied));
  ASSERT_TRUE(table.wait_committed(first, first_committed));
  ASSERT_TRUE(table.wait_committed(second, second_committed));
  {
    SeenWaiter gone([&] { seen.push_back("gone"); });  // its session ended before the commit
    ASSERT_TRUE(table.wait_committed(second, gone));
  }
  EXPECT_TRUE(seen.empty());
  ASSERT_TRUE(loop.run_until([&] { return seen.size() >= 3; }));
  EXPECT_EQ(seen, (std::vector<std::string>{"first", "second", "final:succeeded"}));
  SeenWaiter late([&] { seen.push_back("late"); });
  EXPECT_FALSE(table.wait_committed(first, late));
  EXPECT_FALSE(table.wait_final_applied(first, late));
  EXPECT_FALSE(late.linked());
}

// A failed commit acknowledges nothing: the waits on its changes stay linked while the store
// fails (the submit is not answered, store_health() says why), and the retry that commits the
// same changes wakes exactly those waits.
TEST_F(JobTableStoreTest, CommitWaitsOfAFailingBatchWakeOnlyWhenItsRetryCommits) {
  store::testing::use_faulty_vfs();
  auto faulty = open_or_fail(dir.file("faulty.db"), loop.io,
                             {.retry_initial = 20ms, .retry_max = 20ms, .vfs = store::testing::kFaultyVfs});
  ASSERT_TRUE(faulty);
  JobTable table({}, faulty.get());
  const JobSeq before = add(table).seq;
  ASSERT_TRUE(all_committed(table));
  store::testing::faults.fail_writes = true;
  const JobSeq failing = add(table).seq;
  std::vector<JobSeq> woken;
  SeenWaiter waiter([&] { woken.push_back(failing); });
  ASSERT_TRUE(table.wait_committed(failing, waiter));
  EXPECT_FALSE(table.wait_committed(before, waiter)) << "committed earlier: nothing to wait for";
  ASSERT_TRUE(loop.run_until([&] { return !table.store_health().ok; }));
  loop.run_for(100ms);  // several failed attempts
  EXPECT_TRUE(woken.empty()) << "woken by a commit that failed";
  EXPECT_TRUE(waiter.linked());
  EXPECT_FALSE(table.committed(failing));
  store::testing::faults.fail_writes = false;
  ASSERT_TRUE(loop.run_until([&] { return !woken.empty(); }));
  EXPECT_EQ(woken, std::vector<JobSeq>{failing});
  EXPECT_TRUE(table.committed(failing));
  EXPECT_TRUE(table.store_health().ok);
}

TEST_F(JobTableStoreTest, EvictedJobsAreRemovedFromTheStore) {
  JobTable table({.max_finished = 2}, store.get());
  std::vector<JobSeq> seqs;
  for (int i = 0; i < 4; ++i) {
    seqs.push_back(add(table).seq);
    table.finish(seqs.back(), proto::Outcome::success(i), t0);
  }
  ASSERT_TRUE(all_committed(table));
  EXPECT_EQ(table.counts().finished, 2u);
  store->close();
  const auto rows = load_all(path);
  EXPECT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows.contains(seqs[2]) && rows.contains(seqs[3]));
}

TEST_F(JobTableStoreTest, ARestoredTableHasTheSameJobsOrderKeysAndContinuesSeqs) {
  std::vector<std::string> ids;
  JobSeq last = 0;
  {
    JobTable table({}, store.get());
    for (int i = 0; i < 5; ++i) {
      const Job& job = add(table, "key-" + std::to_string(i));
      ids.push_back(job.id);
      last = job.seq;
      if (i < 3) table.finish(job.seq, proto::Outcome::success(i), t0 + std::chrono::milliseconds(10 - i));
    }
    ASSERT_TRUE(all_committed(table));
    table.finish(last, proto::Outcome::success(9), t0);  // written, never committed: not shown
    store->close();
  }
  auto reopened = open_or_fail(path, loop.io);
  JobTable table({}, reopened.get());
  const auto loaded = reopened->load([&](store::JobRow& row) { table.restore(row, echo); });
  table.end_restore(loaded.max_seq);
  EXPECT_EQ(table.counts().total, 5u);
  EXPECT_EQ(table.counts().finished, 4u) << "the last finish was committed at close";
  const auto page = table.list({});
  ASSERT_EQ(page.jobs.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(page.jobs[i]->id, ids[4 - i]) << "newest first";
  EXPECT_EQ(table.find_by_idempotency_key("key-3")->id, ids[3]);
  const auto record = nlohmann::json::parse(render_record(*table.get(ids[0])));
  EXPECT_EQ(record["state"], "succeeded");
  EXPECT_EQ(record["result"], 0);
  EXPECT_EQ(table.get(ids[3])->state, JobState::queued);
  EXPECT_GT(add(table).seq, last);
}
