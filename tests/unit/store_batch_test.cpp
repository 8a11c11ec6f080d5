// BatchCoalescer: the changes of one group commit that concern the same job fold into one
// statement, and what the batch commits stays exactly what applying every change would commit.
// gathering_after: how much a group commit waits for, light load against load.
#include <gtest/gtest.h>

#include <deque>

#include "store/change_batch.hpp"
#include "store_test_support.hpp"

using namespace jobd::store;
using namespace jobd::store::testing;

namespace {

Change remove(std::uint64_t seq) { return {ChangeOp::remove, JobRow{.seq = seq}}; }

// A batch as the writer folds it: views of changes this holds (a deque: adding more moves none).
struct Batch {
  std::deque<Change> changes;
  std::vector<ChangeRef> refs;

  explicit Batch(std::initializer_list<Change> list) { add(list); }
  void add(std::initializer_list<Change> list) {
    for (const Change& change : list) {
      const Change& kept = changes.emplace_back(change);
      refs.push_back({kept.op, ref_of(kept.row)});
    }
  }
  std::size_t size() const { return refs.size(); }
  ChangeOp op(std::size_t i) const { return refs.at(i).op; }
  JobRow row(std::size_t i) const { return row_of(refs.at(i).row); }
};

TEST(StoreBatch, StartAndFinishFoldIntoTheInsertOfTheSameBatch) {
  Batch batch{insert(job_row(1, 1)), insert(job_row(2, 1)), update(job_row(1, 2)), update(job_row(1, 3))};
  BatchCoalescer().coalesce(batch.refs);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch.op(0), ChangeOp::insert);
  EXPECT_EQ(batch.row(0), job_row(1, 3));  // inserted as finished: one statement, not three
  EXPECT_EQ(batch.row(1), job_row(2, 1));
}

TEST(StoreBatch, UpdatesFoldIntoTheEarlierUpdateKeepingTheFixedColumns) {
  JobRow finished = job_row(5, 3);
  finished.kind = "ignored by an update";
  Batch batch{update(job_row(5, 2)), update(finished)};
  BatchCoalescer().coalesce(batch.refs);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch.op(0), ChangeOp::update);
  EXPECT_EQ(batch.row(0).state, jobd::proto::JobState::succeeded);
  EXPECT_EQ(batch.row(0).result_json, job_row(5, 3).result_json);
  EXPECT_EQ(batch.row(0).kind, job_row(5, 2).kind);
}

TEST(StoreBatch, AJobInsertedAndRemovedInOneBatchLeavesNothing) {
  Batch batch{insert(job_row(1)), update(job_row(1, 3)), insert(job_row(2)), remove(1)};
  BatchCoalescer().coalesce(batch.refs);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch.row(0), job_row(2));
}

TEST(StoreBatch, ARemoveAfterAnUpdateIsTheRemoveAlone) {
  Batch batch{update(job_row(1, 3)), remove(1)};
  BatchCoalescer().coalesce(batch.refs);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch.op(0), ChangeOp::remove);
}

TEST(StoreBatch, AnInsertAfterARemoveIsKeptInOrder) {
  Batch batch{remove(1), insert(job_row(1)), update(job_row(1, 2))};
  BatchCoalescer().coalesce(batch.refs);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch.op(0), ChangeOp::remove);
  EXPECT_EQ(batch.op(1), ChangeOp::insert);
  EXPECT_EQ(batch.row(1), job_row(1, 2));
}

TEST(StoreBatch, SeqsFarApartFoldTheSameAsARun) {
  // A batch's seqs are looked up in a vector when they are a short run, in a hash map otherwise
  // (a retry's old jobs beside new ones): both fold alike.
  constexpr std::uint64_t kFar = 10'000'000;
  Batch batch{insert(job_row(1)), insert(job_row(kFar)), update(job_row(1, 3)),   update(job_row(kFar, 2)),
              remove(1),          insert(job_row(1, 2)), update(job_row(kFar, 3))};
  BatchCoalescer coalescer;
  coalescer.coalesce(batch.refs);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch.row(0), job_row(kFar, 3));
  EXPECT_EQ(batch.op(1), ChangeOp::insert);
  EXPECT_EQ(batch.row(1), job_row(1, 2));
  // The same coalescer, a run again: nothing of the sparse batch is left over.
  Batch run{insert(job_row(kFar + 1)), update(job_row(kFar + 1, 3)), insert(job_row(kFar + 2))};
  coalescer.coalesce(run.refs);
  ASSERT_EQ(run.size(), 2u);
  EXPECT_EQ(run.row(0), job_row(kFar + 1, 3));
  EXPECT_EQ(run.row(1), job_row(kFar + 2));
}

TEST(StoreBatch, FoldingAKeptBatchAgainWithNewChangesChangesNothingElse) {
  // Folded changes folded again with more (a coalescer's batch may hold folded ones).
  BatchCoalescer coalescer;
  Batch batch{insert(job_row(1)), update(job_row(1, 3)), insert(job_row(2))};
  coalescer.coalesce(batch.refs);
  batch.add({update(job_row(2, 2))});
  coalescer.coalesce(batch.refs);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch.row(0), job_row(1, 3));
  EXPECT_EQ(batch.row(1), job_row(2, 2));
}

TEST(StoreBatch, FoldUpdateTakesALaterUpdateOfTheSameJobOnly) {
  const JobRow first = job_row(1, 1), started_row = job_row(1, 2), finished_row = job_row(1, 3);
  const JobRow other_row = job_row(2, 2);
  ChangeRef inserted{ChangeOp::insert, ref_of(first)};
  EXPECT_TRUE(fold_update(inserted, {ChangeOp::update, ref_of(started_row)}));
  EXPECT_EQ(inserted.op, ChangeOp::insert);
  EXPECT_EQ(row_of(inserted.row), job_row(1, 2));
  EXPECT_TRUE(fold_update(inserted, {ChangeOp::update, ref_of(finished_row)}));
  EXPECT_EQ(row_of(inserted.row), job_row(1, 3));
  // Another job, an insert, a remove after, or anything after a remove: kept apart, untouched.
  EXPECT_FALSE(fold_update(inserted, {ChangeOp::update, ref_of(other_row)}));
  EXPECT_FALSE(fold_update(inserted, {ChangeOp::insert, ref_of(first)}));
  RowRef removed_row;
  removed_row.seq = 1;
  ChangeRef removed{ChangeOp::remove, removed_row};
  EXPECT_FALSE(fold_update(inserted, removed));
  EXPECT_FALSE(fold_update(removed, {ChangeOp::update, ref_of(started_row)}));
  EXPECT_EQ(row_of(inserted.row), job_row(1, 3));
  EXPECT_EQ(removed.op, ChangeOp::remove);
  EXPECT_TRUE(removed.row.result_json.empty());
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
