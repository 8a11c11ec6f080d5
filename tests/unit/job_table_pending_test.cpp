// The job table's writes that wait for a durable store's commit (a pending insert, a pending
// final), over a store whose commits the test makes by hand: each settles exactly its own job,
// even when that job left the table first and its memory went to the next job, and a final
// state waiting for its commit cannot be overtaken by a retry.
#include <gtest/gtest.h>

#include <deque>
#include <utility>

#include "jobs/job_table.hpp"
#include "kinds/builtin.hpp"

using namespace jobd;
using namespace jobd::jobs;
using namespace std::chrono_literals;
using proto::JobState;

namespace {

// A durable store that commits only when told (commit_through), on the caller's thread.
class HandCommittedStore final : public store::JobStore {
 public:
  bool durable() const noexcept override { return true; }
  store::LoadResult load(const store::RowVisitor&) override { return {}; }
  using store::JobStore::write;
  store::Ticket write(store::ChangeOp op, const store::RowRef& row) override {
    written.push_back({op, store::row_of(row)});
    return ++last;
  }
  void evict(std::uint64_t seq) override { evicted.push_back(seq); }
  void when_durable(store::Ticket ticket, std::function<void()> done) override {
    if (ticket <= through) {
      done();
      return;
    }
    waiting_.emplace_back(ticket, std::move(done));
  }
  void set_durable_listener(std::function<void(store::Ticket)> listener) override {
    listener_ = std::move(listener);
  }
  store::StoreHealth health() const override { return {}; }
  void set_observer(store::StoreObserver) override {}
  store::StoreHealth close() override { return {}; }

  // As a committed batch: the listener (the table settles it), then the callbacks.
  void commit_through(store::Ticket ticket) {
    through = ticket;
    if (listener_) listener_(ticket);
    while (!waiting_.empty() && waiting_.front().first <= ticket) {
      auto done = std::move(waiting_.front().second);
      waiting_.pop_front();
      done();
    }
  }

  std::vector<store::Change> written;
  std::vector<std::uint64_t> evicted;
  store::Ticket last = 0;
  store::Ticket through = 0;

 private:
  std::function<void(store::Ticket)> listener_;
  std::deque<std::pair<store::Ticket, std::function<void()>>> waiting_;
};

class JobTablePendingTest : public ::testing::Test {
 protected:
  HandCommittedStore store;
  JobTable table{{}, &store};
  kinds::Kind echo = kinds::make_echo_kind();
  Clock::time_point t0 = Clock::now();

  const Job& add(RunPlan plan = {}) {
    return table.create(echo, proto::Executor::loop, R"({"x":1})", 1s, std::nullopt, t0, plan);
  }
  // A job whose insert is held (a submit that waits for the job's end).
  const Job& add_held(RunPlan plan = {}) {
    return table.create(echo, proto::Executor::loop, R"({"x":1})", 1s, std::nullopt, t0, plan, true);
  }
};

}  // namespace

TEST_F(JobTablePendingTest, AnInsertSettlesOnlyOnceTheCommitHoldingItCompleted) {
  const Job& job = add();
  const JobSeq seq = job.seq;
  EXPECT_FALSE(table.committed(seq));
  EXPECT_FALSE(table.committed(job));
  bool told = false;
  table.when_committed(seq, [&told] { told = true; });
  store.commit_through(store.last - 1);  // an earlier batch (none): nothing settles
  EXPECT_FALSE(told);
  EXPECT_TRUE(table.list({}).jobs.empty());
  store.commit_through(store.last);
  EXPECT_TRUE(told);
  EXPECT_TRUE(table.committed(seq));
  EXPECT_EQ(table.list({}).jobs.size(), 1u);
}

// A held insert is written once, with the job's final state: one change, whose commit settles
// the insert and the final together. Until then nothing reads it as stored or finished.
TEST_F(JobTablePendingTest, AHeldInsertIsWrittenOnceFinalWithTheJobsEnd) {
  const Job& job = add_held();
  const JobSeq seq = job.seq;
  EXPECT_TRUE(JobTable::insert_held(job));
  table.start(seq, nullptr, t0);
  EXPECT_TRUE(store.written.empty()) << "a held insert carries its start later";
  EXPECT_FALSE(table.committed(seq));
  EXPECT_TRUE(table.list({}).jobs.empty());
  ASSERT_TRUE(table.finish(seq, proto::Outcome::success(7), t0 + 1ms));
  ASSERT_EQ(store.written.size(), 1u);
  const store::Change& change = store.written[0];
  EXPECT_EQ(change.op, store::ChangeOp::insert);
  EXPECT_EQ(change.row.seq, seq);
  EXPECT_EQ(change.row.state, JobState::succeeded);
  EXPECT_EQ(change.row.result_json, "7");
  EXPECT_EQ(change.row.params_json, R"({"x":1})");
  EXPECT_TRUE(change.row.started_at_ms.has_value());
  EXPECT_TRUE(change.row.finished_at_ms.has_value());
  EXPECT_TRUE(table.final_pending(seq));
  EXPECT_EQ(table.get(seq)->state, JobState::running) << "shown before its commit";
  store.commit_through(store.last);
  EXPECT_TRUE(table.committed(seq));
  EXPECT_FALSE(table.final_pending(seq));
  EXPECT_EQ(table.get(seq)->state, JobState::succeeded);
  EXPECT_EQ(table.list({}).jobs.size(), 1u);
}

// Released (the hold's time is up, or a wait for the insert began), a held insert is written as
// the job is then, once; the job's end is then an update, as for any job.
TEST_F(JobTablePendingTest, AReleasedHeldInsertIsWrittenAsTheJobIsThenAndOnlyOnce) {
  const JobSeq seq = add_held().seq;
  table.start(seq, nullptr, t0);
  EXPECT_TRUE(table.release_insert(seq));
  EXPECT_FALSE(table.release_insert(seq));
  ASSERT_EQ(store.written.size(), 1u);
  EXPECT_EQ(store.written[0].op, store::ChangeOp::insert);
  EXPECT_EQ(store.written[0].row.state, JobState::running);
  EXPECT_FALSE(table.committed(seq));
  ASSERT_TRUE(table.finish(seq, proto::Outcome::success(1), t0 + 1ms));
  ASSERT_EQ(store.written.size(), 2u);
  EXPECT_EQ(store.written[1].op, store::ChangeOp::update);
  store.commit_through(store.last);
  EXPECT_EQ(table.get(seq)->state, JobState::succeeded);
  EXPECT_FALSE(table.release_insert(add().seq)) << "a job written at once holds nothing";
}

// Whoever waits for a held insert's commit ends the hold (a submit whose wait ran out: its 202
// waits for the insert).
TEST_F(JobTablePendingTest, AWaitForAHeldInsertWritesIt) {
  const JobSeq seq = add_held().seq;
  bool told = false;
  table.when_committed(seq, [&told] { told = true; });
  ASSERT_EQ(store.written.size(), 1u);
  EXPECT_EQ(store.written[0].row.state, JobState::queued);
  EXPECT_FALSE(told);
  store.commit_through(store.last);
  EXPECT_TRUE(told);
  EXPECT_TRUE(table.committed(seq));
}

// A retry is no end: the held insert is written then, queued for the next attempt.
TEST_F(JobTablePendingTest, ARetryWritesAHeldInsertQueuedForTheNextAttempt) {
  const JobSeq seq = add_held({.max_attempts = 2}).seq;
  table.start(seq, nullptr, t0);
  ASSERT_TRUE(
      table.retry(seq, proto::Outcome::failure(proto::job_error::crashed, "worker died"), t0 + 1s, t0));
  ASSERT_EQ(store.written.size(), 1u);
  EXPECT_EQ(store.written[0].op, store::ChangeOp::insert);
  EXPECT_EQ(store.written[0].row.state, JobState::queued);
  EXPECT_EQ(store.written[0].row.attempt, 2u);
  EXPECT_TRUE(store.written[0].row.run_at_ms.has_value());
  EXPECT_NE(store.written[0].row.attempts_json.find("worker died"), std::string::npos);
}

// A held job its executor refused leaves the table with nothing written: no row, no remove.
TEST_F(JobTablePendingTest, ADiscardedHeldJobWritesNothing) {
  const JobSeq seq = add_held().seq;
  table.discard(seq);
  EXPECT_TRUE(store.written.empty());
  EXPECT_EQ(table.get(seq), nullptr);
}

// A held job that ended and left the table before its one commit: that commit settles neither
// its insert nor its final, and the next job (which may reuse the Job and the final's slot) is
// settled by its own commit only.
TEST_F(JobTablePendingTest, ACommitOfAForgottenHeldJobSettlesNothingOfTheNextJob) {
  const JobSeq gone = add_held().seq;
  ASSERT_TRUE(table.finish(gone, proto::Outcome::success(1), t0));
  const store::Ticket gone_ticket = store.last;
  table.forget(gone);
  const JobSeq seq = add_held().seq;
  table.start(seq, nullptr, t0);
  ASSERT_TRUE(table.finish(seq, proto::Outcome::success(2), t0 + 1ms));
  store.commit_through(gone_ticket);
  EXPECT_FALSE(table.committed(seq));
  EXPECT_TRUE(table.final_pending(seq));
  EXPECT_EQ(table.get(seq)->state, JobState::running);
  EXPECT_EQ(table.counts().finished, 0u);
  store.commit_through(store.last);
  EXPECT_TRUE(table.committed(seq));
  EXPECT_EQ(table.get(seq)->state, JobState::succeeded);
  EXPECT_EQ(table.get(seq)->result, "2");
}

// A job discarded before its insert committed: that commit settles nothing, in particular not
// the next job, which may be the same Job object reused (JobTable::recycle).
TEST_F(JobTablePendingTest, ACommitOfADiscardedJobsInsertLeavesTheNextJobWaiting) {
  const JobSeq gone = add().seq;
  const store::Ticket gone_insert = store.last;
  table.discard(gone);
  EXPECT_TRUE(table.committed(gone)) << "not in the table: nothing to wait for";
  const Job& next = add();
  const JobSeq seq = next.seq;
  store.commit_through(gone_insert);
  EXPECT_FALSE(table.committed(seq)) << "settled by another job's commit";
  EXPECT_TRUE(table.list({}).jobs.empty());
  store.commit_through(store.last);
  EXPECT_TRUE(table.committed(seq));
  ASSERT_EQ(table.list({}).jobs.size(), 1u);
  EXPECT_EQ(table.list({}).jobs[0]->seq, seq);
}

// A job that left the table while its final state waited for the commit: the commit applies
// nothing, and the next job's own pending final (in the slot it freed, in the Job it may reuse)
// is applied by its own commit, with its own result.
TEST_F(JobTablePendingTest, ACommitOfAForgottenJobsFinalDoesNotApplyTheNextJobsFinal) {
  const JobSeq gone = add().seq;
  store.commit_through(store.last);
  ASSERT_TRUE(table.finish(gone, proto::Outcome::success(1), t0));
  const store::Ticket gone_final = store.last;
  ASSERT_TRUE(table.final_pending(gone));
  table.forget(gone);
  EXPECT_FALSE(table.final_pending(gone));
  const JobSeq seq = add().seq;
  table.start(seq, nullptr, t0);
  ASSERT_TRUE(table.finish(seq, proto::Outcome::success(2), t0 + 1ms));
  std::vector<JobState> seen;
  table.watch(seq, [&seen](const Job&, const JobEvent& event) { seen.push_back(event.state); });
  store.commit_through(gone_final);
  EXPECT_TRUE(table.final_pending(seq));
  EXPECT_EQ(table.get(seq)->state, JobState::running) << "another job's commit applied this final";
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(table.counts().finished, 0u);
  store.commit_through(store.last);
  EXPECT_FALSE(table.final_pending(seq));
  EXPECT_EQ(table.get(seq)->state, JobState::succeeded);
  EXPECT_EQ(table.get(seq)->result, "2");
  EXPECT_EQ(seen, std::vector<JobState>{JobState::succeeded});
  EXPECT_EQ(table.counts().finished, 1u);
}

// Many jobs ending before one commit each keep their own final (slots are reused only once
// applied), and the commit applies them all, in order.
TEST_F(JobTablePendingTest, FinalsPendingTogetherAreEachAppliedWithTheirOwnResult) {
  std::vector<JobSeq> seqs;
  for (int round = 0; round < 3; ++round) {
    seqs.clear();
    for (int i = 0; i < 5; ++i) {
      seqs.push_back(add().seq);
      ASSERT_TRUE(table.finish(seqs.back(), proto::Outcome::success(round * 10 + i), t0));
    }
    for (JobSeq seq : seqs) EXPECT_TRUE(table.final_pending(seq));
    store.commit_through(store.last);
    for (int i = 0; i < 5; ++i) {
      const Job* job = table.get(seqs[static_cast<std::size_t>(i)]);
      ASSERT_NE(job, nullptr);
      EXPECT_EQ(job->state, JobState::succeeded);
      EXPECT_EQ(job->result, std::to_string(round * 10 + i));
      EXPECT_FALSE(table.final_pending(*job));
    }
  }
}

// A final state waiting for its commit is the job's end: a retry of the same attempt is refused
// and the final is applied as it was.
TEST_F(JobTablePendingTest, ARetryWhileTheFinalIsPendingIsRefused) {
  const JobSeq seq = add({.max_attempts = 3}).seq;
  table.start(seq, nullptr, t0);
  const auto crashed = proto::Outcome::failure(proto::job_error::crashed, "worker died");
  ASSERT_TRUE(table.finish(seq, crashed, t0 + 1ms));
  EXPECT_FALSE(table.retry(seq, crashed, t0 + 1s, t0 + 1ms));
  store.commit_through(store.last);
  EXPECT_EQ(table.get(seq)->state, JobState::failed);
  EXPECT_EQ(table.get(seq)->attempt, 1u);
}

// A retry while the insert is still pending keeps the job waiting for that insert; its own
// update is not gated.
TEST_F(JobTablePendingTest, ARetriedJobStillWaitsForItsInsert) {
  const JobSeq seq = add({.max_attempts = 2}).seq;
  const store::Ticket insert = store.last;
  table.start(seq, nullptr, t0);
  ASSERT_TRUE(
      table.retry(seq, proto::Outcome::failure(proto::job_error::crashed, "worker died"), t0 + 1s, t0));
  EXPECT_FALSE(table.committed(seq));
  store.commit_through(insert);
  EXPECT_TRUE(table.committed(seq));
  EXPECT_EQ(table.get(seq)->state, JobState::queued);
  EXPECT_EQ(table.get(seq)->attempt, 2u);
}

// GET /v1/events (a stream) learns of a job only once its insert is committed: a crash before
// that takes the job, and no client may have seen its id. Then it hears the job's states so far
// in order. Metrics (a recorder) count at once, as without a store.
TEST_F(JobTablePendingTest, AStreamHearsOfAJobOnlyOnceItsInsertIsCommitted) {
  std::vector<std::pair<JobSeq, JobState>> streamed;
  std::vector<JobState> recorded;
  const auto stream = table.watch_all(
      [&](const Job& job, const JobEvent& event) { streamed.emplace_back(job.seq, event.state); },
      WatchAll::stream);
  const auto recorder = table.watch_all(
      [&](const Job&, const JobEvent& event) { recorded.push_back(event.state); }, WatchAll::recorder);
  const JobSeq first = add().seq;
  const JobSeq second = add().seq;
  table.start(first, nullptr, t0);
  EXPECT_TRUE(streamed.empty()) << "shown before its insert was committed";
  EXPECT_EQ(recorded, (std::vector{JobState::queued, JobState::queued, JobState::running}));
  store.commit_through(store.last - 2);  // the first job's insert
  EXPECT_EQ(streamed, (std::vector<std::pair<JobSeq, JobState>>{{first, JobState::queued},
                                                                {first, JobState::running}}));
  store.commit_through(store.last);  // the second's, and the first's start
  ASSERT_EQ(streamed.size(), 3u);
  EXPECT_EQ(streamed[2], std::make_pair(second, JobState::queued));
  ASSERT_TRUE(table.finish(first, proto::Outcome::success(1), t0 + 1ms));
  store.commit_through(store.last);
  ASSERT_EQ(streamed.size(), 4u) << "a committed job's final is streamed once applied";
  EXPECT_EQ(streamed[3], std::make_pair(first, JobState::succeeded));
  EXPECT_EQ(recorded.size(), 4u) << "nothing is told to metrics twice";
  table.unwatch_all(stream);
  table.unwatch_all(recorder);
}

// A held job that ends before its one commit is streamed whole at that commit, in order; one
// discarded or forgotten before its commit never is.
TEST_F(JobTablePendingTest, AHeldJobIsStreamedWholeAtItsCommitAndADiscardedOneNever) {
  std::vector<std::pair<JobSeq, JobState>> streamed;
  const auto stream = table.watch_all(
      [&](const Job& job, const JobEvent& event) { streamed.emplace_back(job.seq, event.state); },
      WatchAll::stream);
  const JobSeq discarded = add().seq;
  const JobSeq held = add_held().seq;
  table.discard(discarded);
  table.start(held, nullptr, t0);
  ASSERT_TRUE(table.finish(held, proto::Outcome::success(7), t0 + 1ms));
  EXPECT_TRUE(streamed.empty());
  store.commit_through(store.last);
  EXPECT_EQ(streamed, (std::vector<std::pair<JobSeq, JobState>>{
                          {held, JobState::queued}, {held, JobState::running}, {held, JobState::succeeded}}));
  table.unwatch_all(stream);
}
