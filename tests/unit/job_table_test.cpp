#include <gtest/gtest.h>

#include <set>

#include "jobs/job_table.hpp"
#include "kinds/builtin.hpp"

using namespace jobd;
using namespace jobd::jobs;
using namespace std::chrono_literals;
using proto::JobState;

namespace {
class JobTableTest : public ::testing::Test {
 protected:
  kinds::Kind echo = kinds::make_echo_kind();
  kinds::Kind sleep = kinds::make_sleep_kind();
  Clock::time_point t0 = Clock::now();

  Job& add(JobTable& table, const kinds::Kind& kind, std::optional<std::string> key = std::nullopt) {
    return table.create(kind, proto::Executor::loop, nlohmann::json::object(), 1s, std::move(key), t0);
  }
};
}  // namespace

TEST_F(JobTableTest, CreatedJobsAreQueuedWithUniqueUnguessableIds) {
  JobTable table({});
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    Job& job = add(table, echo);
    EXPECT_EQ(job.state, JobState::queued);
    EXPECT_EQ(job.id.size(), 32u);  // 128 random bits in hex
    ids.insert(job.id);
    EXPECT_EQ(table.get(job.id), &job);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST_F(JobTableTest, FinishIsFinalAndLateResultsAreDropped) {
  JobTable table({});
  Job& job = add(table, echo);
  table.mark_running(job, t0);
  EXPECT_EQ(job.state, JobState::running);
  EXPECT_TRUE(table.finish(job, JobState::timed_out, nullptr, JobError{"timed-out", "late"}, t0 + 1s));
  EXPECT_FALSE(table.finish(job, JobState::succeeded, 42, std::nullopt, t0 + 2s));
  EXPECT_EQ(job.state, JobState::timed_out);
  EXPECT_EQ(job.error->type, "timed-out");
  EXPECT_EQ(job.finished_at, t0 + 1s);
}

TEST_F(JobTableTest, ThreadStartIsVisibleThroughTheControlBeforeAnyHandOff) {
  JobTable table({});
  Job& job = add(table, echo);
  EXPECT_EQ(job.visible_state(), JobState::queued);
  job.control->started_ns.store(123456789, std::memory_order_relaxed);
  EXPECT_EQ(job.visible_state(), JobState::running);
  EXPECT_EQ(to_json(job)["state"], "running");
  EXPECT_TRUE(to_json(job).contains("started_at"));
}

TEST_F(JobTableTest, ObserversHearEventsInOrderAndMayUnwatchThemselves) {
  JobTable table({});
  Job& job = add(table, echo);
  job.event_subscribers = 1;  // progress is recorded only while someone streams
  std::vector<std::pair<std::uint64_t, EventType>> heard;
  WatchId id = 0;
  id = table.watch(job.seq, [&](const Job&, const JobEvent& event) {
    heard.emplace_back(event.id, event.type);
    if (event.type == EventType::state && proto::is_final(event.state)) table.unwatch(job.seq, id);
  });
  table.mark_running(job, t0);
  table.report_progress(job, 0.5, "half");
  table.report_output(job, EventType::stdout_line, "line");
  table.finish(job, JobState::succeeded, 1, std::nullopt, t0);
  // Event 1 was "queued", published before the watch.
  EXPECT_EQ(heard, (std::vector<std::pair<std::uint64_t, EventType>>{{2, EventType::state},
                                                                     {3, EventType::progress},
                                                                     {4, EventType::stdout_line},
                                                                     {5, EventType::state}}));
  EXPECT_FALSE(table.watched(job.seq));
  ASSERT_EQ(job.events.size(), 5u);
  EXPECT_EQ(job.events.front().state, JobState::queued);
  EXPECT_EQ(job.events.back().state, JobState::succeeded);
}

TEST_F(JobTableTest, ProgressIsNotRecordedWhenNobodyStreams) {
  JobTable table({});
  Job& job = add(table, echo);
  table.report_progress(job, 0.25, "quiet");
  EXPECT_EQ(job.progress, 0.25);
  EXPECT_EQ(job.events.size(), 1u);  // only "queued"
}

TEST_F(JobTableTest, EventHistoryIsBoundedKeepingTheNewest) {
  JobTable table({.event_history = 4});
  Job& job = add(table, echo);
  for (int i = 0; i < 10; ++i) table.report_output(job, EventType::stdout_line, std::to_string(i));
  ASSERT_EQ(job.events.size(), 4u);
  EXPECT_EQ(job.events.front().id, 8u);
  EXPECT_EQ(job.events.back().text, "9");
  EXPECT_EQ(job.next_event_id, 12u);
}

TEST_F(JobTableTest, GlobalObserversHearStateEventsOfEveryJob) {
  JobTable table({});
  std::vector<JobState> states;
  const auto id = table.watch_all([&](const Job&, const JobEvent& event) { states.push_back(event.state); });
  Job& a = add(table, echo);
  Job& b = add(table, sleep);
  table.report_output(a, EventType::stdout_line, "not a state");
  table.finish(b, JobState::cancelled, nullptr, JobError{"cancelled", "x"}, t0);
  table.unwatch_all(id);
  table.finish(a, JobState::succeeded, 1, std::nullopt, t0);
  EXPECT_EQ(states, (std::vector{JobState::queued, JobState::queued, JobState::cancelled}));
}

TEST_F(JobTableTest, MaxFinishedEvictsTheOldestFinishedJobsOnly) {
  JobTable table({.max_finished = 2, .retention = 1h});
  Job& active = add(table, sleep);
  std::vector<std::string> finished;
  for (int i = 0; i < 3; ++i) {
    Job& job = add(table, echo);
    finished.push_back(job.id);
    table.finish(job, JobState::succeeded, i, std::nullopt, t0 + std::chrono::seconds(i));
  }
  EXPECT_EQ(table.get(finished[0]), nullptr);
  EXPECT_NE(table.get(finished[1]), nullptr);
  EXPECT_NE(table.get(finished[2]), nullptr);
  EXPECT_NE(table.get(active.id), nullptr);  // never evicted while active
  EXPECT_EQ(table.counts().total, 3u);
}

TEST_F(JobTableTest, RetentionEvictsFinishedJobsOlderThanItAndFreesTheirKeys) {
  JobTable table({.max_finished = 100, .retention = 10s});
  Job& old_job = add(table, echo, "key-1");
  table.finish(old_job, JobState::succeeded, 1, std::nullopt, t0);
  Job& young = add(table, echo);
  table.finish(young, JobState::succeeded, 2, std::nullopt, t0 + 8s);
  const std::string old_id = old_job.id;
  EXPECT_EQ(table.evict_expired(t0 + 9s), 0u);
  EXPECT_EQ(table.evict_expired(t0 + 11s), 1u);
  EXPECT_EQ(table.get(old_id), nullptr);
  EXPECT_EQ(table.find_by_idempotency_key("key-1"), nullptr);
  EXPECT_NE(table.get(young.id), nullptr);
}

TEST_F(JobTableTest, IdempotencyKeyFindsItsJob) {
  JobTable table({});
  Job& job = add(table, echo, "abc");
  EXPECT_EQ(table.find_by_idempotency_key("abc"), &job);
  EXPECT_EQ(table.find_by_idempotency_key("abd"), nullptr);
}

TEST_F(JobTableTest, ListIsNewestFirstFilteredAndPagedByCursor) {
  JobTable table({});
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(add(table, i % 2 ? sleep : echo).id);
  table.finish(*table.get(ids[4]), JobState::failed, nullptr, JobError{"x", "y"}, t0);

  auto page = table.list({.limit = 2});
  ASSERT_EQ(page.jobs.size(), 2u);
  EXPECT_EQ(page.jobs[0]->id, ids[4]);
  EXPECT_EQ(page.jobs[1]->id, ids[3]);
  ASSERT_TRUE(page.next_cursor);
  auto next = table.list({.limit = 2, .before = page.next_cursor});
  ASSERT_EQ(next.jobs.size(), 2u);
  EXPECT_EQ(next.jobs[0]->id, ids[2]);
  auto last = table.list({.limit = 2, .before = next.next_cursor});
  ASSERT_EQ(last.jobs.size(), 1u);
  EXPECT_FALSE(last.next_cursor);

  auto sleeps = table.list({.kind = "sleep", .limit = 10});
  EXPECT_EQ(sleeps.jobs.size(), 2u);
  auto failed = table.list({.state = JobState::failed, .limit = 10});
  ASSERT_EQ(failed.jobs.size(), 1u);
  EXPECT_EQ(failed.jobs[0]->id, ids[4]);
}

TEST_F(JobTableTest, DiscardRemovesAJobThatWasNeverAdmitted) {
  JobTable table({});
  Job& job = add(table, echo, "k");
  const std::string id = job.id;
  table.discard(job.seq);
  EXPECT_EQ(table.get(id), nullptr);
  EXPECT_EQ(table.find_by_idempotency_key("k"), nullptr);
}

TEST(Rfc3339, FormatsUtcWithMilliseconds) {
  const auto time = Clock::time_point(std::chrono::milliseconds(1700000000123));
  EXPECT_EQ(format_rfc3339(time), "2023-11-14T22:13:20.123Z");
}
