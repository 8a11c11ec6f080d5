// ChangeBuffer: changes written into one byte buffer read back field for field as they were
// written, an update folded into the same job's change written just before it, and nothing
// folded across changes it must keep apart.
#include "store/change_buffer.hpp"

#include <gtest/gtest.h>

#include "store/change_batch.hpp"

#include "store_test_support.hpp"

using namespace jobd::store;
using namespace jobd::store::testing;

namespace {

std::vector<ChangeRef> decoded(const ChangeBuffer& buffer) {
  std::vector<ChangeRef> out;
  buffer.decode(out);
  return out;
}

// What an update carries of `row`: its seq and mutable columns (as the coalescer folds them into
// a row with no fixed values), the fixed ones empty.
JobRow mutable_of(const JobRow& row) {
  RowRef none;
  none.seq = row.seq;
  none.executor = {};
  none.max_attempts = 0;
  ChangeRef only{ChangeOp::update, none};
  EXPECT_TRUE(fold_update(only, {ChangeOp::update, ref_of(row)}));
  return row_of(only.row);
}

JobRow with_every_field(std::uint64_t seq) {
  JobRow row = job_row(seq, 3, 300);
  row.idempotency_key = "client-key";
  row.run_at_ms = 1'800'000'000'123;
  row.attempt = 2;
  row.error_type = "crashed";
  row.error_message = "worker exited";
  row.attempts_json = R"([{"attempt":1,"error":{"type":"crashed"}}])";
  return row;
}

TEST(ChangeBuffer, EveryFieldOfAnInsertReadsBackAsWritten) {
  ChangeBuffer buffer;
  const JobRow full = with_every_field(7);
  JobRow bare;  // no key, no optional time, every text empty
  bare.seq = 8;
  bare.executor = jobd::proto::Executor::subprocess;
  bare.max_attempts = 20;
  JobRow large = job_row(9, 1, 200'000);  // a text longer than any 16-bit length
  large.idempotency_key = "";             // present but empty: not the same as none
  EXPECT_FALSE(buffer.append(ChangeOp::insert, ref_of(full)));
  EXPECT_FALSE(buffer.append(ChangeOp::insert, ref_of(bare)));
  EXPECT_FALSE(buffer.append(ChangeOp::insert, ref_of(large)));
  const auto changes = decoded(buffer);
  ASSERT_EQ(changes.size(), 3u);
  for (const auto& change : changes) EXPECT_EQ(change.op, ChangeOp::insert);
  EXPECT_EQ(row_of(changes[0].row), full);
  EXPECT_EQ(row_of(changes[1].row), bare);
  EXPECT_EQ(row_of(changes[2].row), large);
  EXPECT_TRUE(changes[2].row.idempotency_key.has_value());
  EXPECT_FALSE(changes[1].row.idempotency_key.has_value());
}

TEST(ChangeBuffer, AnUpdateCarriesTheMutableColumnsAndARemoveItsSeqAlone) {
  ChangeBuffer buffer;
  const JobRow finished = with_every_field(3);
  buffer.append(ChangeOp::update, ref_of(finished));
  buffer.append(ChangeOp::remove, ref_of(with_every_field(4)));
  const auto changes = decoded(buffer);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].op, ChangeOp::update);
  EXPECT_EQ(row_of(changes[0].row), mutable_of(finished));
  EXPECT_EQ(changes[1].op, ChangeOp::remove);
  EXPECT_EQ(changes[1].row.seq, 4u);
  EXPECT_TRUE(changes[1].row.params_json.empty());
  EXPECT_TRUE(changes[1].row.result_json.empty());
  EXPECT_FALSE(changes[1].row.finished_at_ms.has_value());
}

TEST(ChangeBuffer, AnUpdateFoldsIntoTheSameJobsChangeWrittenJustBefore) {
  ChangeBuffer buffer;
  // Start and finish after the insert: one insert of the finished job, with longer texts, then
  // shorter ones than those it replaces.
  EXPECT_FALSE(buffer.append(ChangeOp::insert, ref_of(job_row(1, 1))));
  EXPECT_TRUE(buffer.append(ChangeOp::update, ref_of(job_row(1, 2))));
  EXPECT_TRUE(buffer.append(ChangeOp::update, ref_of(with_every_field(1))));
  JobRow shorter = job_row(1, 3);
  EXPECT_TRUE(buffer.append(ChangeOp::update, ref_of(shorter)));
  // An update after an update of the same job folds as well; of another job it does not.
  EXPECT_FALSE(buffer.append(ChangeOp::update, ref_of(job_row(2, 2))));
  EXPECT_TRUE(buffer.append(ChangeOp::update, ref_of(job_row(2, 3))));
  EXPECT_FALSE(buffer.append(ChangeOp::update, ref_of(job_row(1, 3))));
  const auto changes = decoded(buffer);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].op, ChangeOp::insert);
  JobRow expected = job_row(1, 1);
  expected.state = shorter.state;
  expected.started_at_ms = shorter.started_at_ms;
  expected.finished_at_ms = shorter.finished_at_ms;
  expected.result_json = shorter.result_json;
  expected.details_json = shorter.details_json;
  EXPECT_EQ(row_of(changes[0].row), expected);  // the fixed columns of the insert kept
  EXPECT_EQ(changes[1].op, ChangeOp::update);
  EXPECT_EQ(row_of(changes[1].row), mutable_of(job_row(2, 3)));
  EXPECT_EQ(row_of(changes[2].row), mutable_of(job_row(1, 3)));
}

TEST(ChangeBuffer, NothingFoldsIntoARemoveNorIntoAnInsertAfterIt) {
  ChangeBuffer buffer;
  buffer.append(ChangeOp::remove, ref_of(job_row(1)));
  EXPECT_FALSE(buffer.append(ChangeOp::update, ref_of(job_row(1, 2))));
  EXPECT_FALSE(buffer.append(ChangeOp::insert, ref_of(job_row(1, 2))));
  EXPECT_FALSE(buffer.append(ChangeOp::insert, ref_of(job_row(1, 3))));  // an insert never folds
  EXPECT_EQ(decoded(buffer).size(), 4u);
}

TEST(ChangeBuffer, BuffersAppendedAndSwappedKeepTheirChangesInOrderAndFoldNothingAcross) {
  ChangeBuffer loop;
  ChangeBuffer pending;
  loop.append(ChangeOp::insert, ref_of(job_row(1)));
  pending.swap(loop);  // the hand-over into an empty pending buffer
  EXPECT_TRUE(loop.empty());
  loop.append(ChangeOp::insert, ref_of(job_row(2)));
  pending.append(loop);  // into a pending buffer that holds changes already
  loop.clear();
  // The last change pending holds is job 2's insert, but an update handed over later is a
  // change of its own: the writer's coalescer folds it.
  EXPECT_FALSE(pending.append(ChangeOp::update, ref_of(job_row(2, 3))));
  EXPECT_FALSE(loop.append(ChangeOp::update, ref_of(job_row(2, 3))));  // cleared: nothing to fold into
  const auto changes = decoded(pending);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(row_of(changes[0].row), job_row(1));
  EXPECT_EQ(row_of(changes[1].row), job_row(2));
  EXPECT_EQ(row_of(changes[2].row), mutable_of(job_row(2, 3)));
  pending.clear();
  EXPECT_TRUE(pending.empty());
  EXPECT_TRUE(decoded(pending).empty());
}

}  // namespace
