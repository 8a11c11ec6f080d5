// BatchCoalescer: the changes of one group commit that concern the same job fold into one
// statement, and what the batch commits stays exactly what applying every change would commit.
// gathering_after: how much a group commit waits for, light load against load.
#include <gtest/gtest.h>

#include "store/change_batch.hpp"
#include "store_test_support.hpp"

using namespace jobd::store;
using namespace jobd::store::testing;

namespace {

Change remove(std::uint64_t seq) { return {ChangeOp::remove, JobRow{.seq = seq}}; }

TEST(StoreBatch, StartAndFinishFoldIntoTheInsertOfTheSameBatch) {
  std::vector<Change> batch{insert(job_row(1, 1)), insert(job_row(2, 1)), update(job_row(1, 2)),
                            update(job_row(1, 3))};
  BatchCoalescer().coalesce(batch);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].op, ChangeOp::insert);
  EXPECT_EQ(batch[0].row, job_row(1, 3));  // inserted as finished: one statement, not three
  EXPECT_EQ(batch[1].row, job_row(2, 1));
}

TEST(StoreBatch, UpdatesFoldIntoTheEarlierUpdateKeepingTheFixedColumns) {
  JobRow finished = job_row(5, 3);
  finished.kind = "ignored by an update";
  std::vector<Change> batch{update(job_row(5, 2)), update(finished)};
  BatchCoalescer().coalesce(batch);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].op, ChangeOp::update);
  EXPECT_EQ(batch[0].row.state, jobd::proto::JobState::succeeded);
  EXPECT_EQ(batch[0].row.result_json, job_row(5, 3).result_json);
  EXPECT_EQ(batch[0].row.kind, job_row(5, 2).kind);
}

TEST(StoreBatch, AJobInsertedAndRemovedInOneBatchLeavesNothing) {
  std::vector<Change> batch{insert(job_row(1)), update(job_row(1, 3)), insert(job_row(2)), remove(1)};
  BatchCoalescer().coalesce(batch);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].row, job_row(2));
}

TEST(StoreBatch, ARemoveAfterAnUpdateIsTheRemoveAlone) {
  std::vector<Change> batch{update(job_row(1, 3)), remove(1)};
  BatchCoalescer().coalesce(batch);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].op, ChangeOp::remove);
}

TEST(StoreBatch, AnInsertAfterARemoveIsKeptInOrder) {
  std::vector<Change> batch{remove(1), insert(job_row(1)), update(job_row(1, 2))};
  BatchCoalescer().coalesce(batch);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].op, ChangeOp::remove);
  EXPECT_EQ(batch[1].op, ChangeOp::insert);
  EXPECT_EQ(batch[1].row, job_row(1, 2));
}

TEST(StoreBatch, SeqsFarApartFoldTheSameAsARun) {
  // A batch's seqs are looked up in a vector when they are a short run, in a hash map otherwise
  // (a retry's old jobs beside new ones): both fold alike.
  constexpr std::uint64_t kFar = 10'000'000;
  std::vector<Change> batch{
      insert(job_row(1)), insert(job_row(kFar)), update(job_row(1, 3)),   update(job_row(kFar, 2)),
      remove(1),          insert(job_row(1, 2)), update(job_row(kFar, 3))};
  BatchCoalescer coalescer;
  coalescer.coalesce(batch);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].row, job_row(kFar, 3));
  EXPECT_EQ(batch[1].op, ChangeOp::insert);
  EXPECT_EQ(batch[1].row, job_row(1, 2));
  // The same coalescer, a run again: nothing of the sparse batch is left over.
  std::vector<Change> run{insert(job_row(kFar + 1)), update(job_row(kFar + 1, 3)), insert(job_row(kFar + 2))};
  coalescer.coalesce(run);
  ASSERT_EQ(run.size(), 2u);
  EXPECT_EQ(run[0].row, job_row(kFar + 1, 3));
  EXPECT_EQ(run[1].row, job_row(kFar + 2));
}

TEST(StoreBatch, FoldingAKeptBatchAgainWithNewChangesChangesNothingElse) {
  // A batch kept after a failed commit is folded again together with what arrived since.
  BatchCoalescer coalescer;
  std::vector<Change> batch{insert(job_row(1)), update(job_row(1, 3)), insert(job_row(2))};
  coalescer.coalesce(batch);
  batch.push_back(update(job_row(2, 2)));
  coalescer.coalesce(batch);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].row, job_row(1, 3));
  EXPECT_EQ(batch[1].row, job_row(2, 2));
}

TEST(StoreBatch, FoldUpdateTakesALaterUpdateOfTheSameJobOnly) {
  // SqliteStore::write folds the change it is given into the one written just before it.
  Change inserted = insert(job_row(1, 1));
  Change started = update(job_row(1, 2));
  EXPECT_TRUE(fold_update(inserted, started));
  EXPECT_EQ(inserted.op, ChangeOp::insert);
  EXPECT_EQ(inserted.row, job_row(1, 2));
  Change finished = update(job_row(1, 3));
  EXPECT_TRUE(fold_update(inserted, finished));
  EXPECT_EQ(inserted.row, job_row(1, 3));
  // Another job, an insert, a remove after, or anything after a remove: kept apart, untouched.
  Change other = update(job_row(2, 2));
  EXPECT_FALSE(fold_update(inserted, other));
  Change again = insert(job_row(1, 1));
  EXPECT_FALSE(fold_update(inserted, again));
  Change removed = remove(1);
  EXPECT_FALSE(fold_update(inserted, removed));
  Change after_remove = update(job_row(1, 2));
  EXPECT_FALSE(fold_update(removed, after_remove));
  EXPECT_EQ(inserted.row, job_row(1, 3));
  EXPECT_EQ(after_remove.row, job_row(1, 2));
}

TEST(StoreBatch, UnderLoadTheWriterGathersAsManyAsItsLastBatchForLonger) {
  using std::chrono::microseconds;
  // Light load: a lone change waits a little for company.
  for (std::size_t previous : {0, 1, 31}) {
    const Gathering gather = gathering_after(previous);
    EXPECT_EQ(gather.changes, 64u) << previous;
    EXPECT_EQ(gather.window, microseconds(200)) << previous;
  }
  // Load: as many as the previous batch, within a longer but bounded window.
  EXPECT_EQ(gathering_after(32).changes, 32u);
  EXPECT_EQ(gathering_after(32).window, microseconds(1000));
  EXPECT_EQ(gathering_after(150).changes, 150u);
  EXPECT_EQ(gathering_after(150).window, microseconds(1000));
  EXPECT_EQ(gathering_after(100000).changes, 1024u);
  EXPECT_EQ(gathering_after(100000).window, microseconds(1000));
}

}  // namespace
