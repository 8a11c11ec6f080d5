// JobTable observers: who hears which events, in what order, and watching or unwatching while
// being called.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "job_table_fixture.hpp"

using namespace jobd;
using namespace jobd::jobs;
using jobd::testing::JobTableTest;
using namespace std::chrono_literals;
using proto::JobState;

TEST_F(JobTableTest, EventStreamsMarkTheJobWatchedAndLongPollsDoNot) {
  JobTable table({});
  const Job& job = add(table, echo);
  int states_heard = 0;
  int events_heard = 0;
  const auto poll = table.watch(job.seq, [&](const Job&, const JobEvent&) { ++states_heard; });
  EXPECT_FALSE(job.control->watched.load());
  const auto stream = table.watch(
      job.seq, [&](const Job&, const JobEvent&) { ++events_heard; }, Watch::events);
  EXPECT_TRUE(job.control->watched.load());
  EXPECT_EQ(job.event_subscribers, 1u);
  table.progress(job.seq, 0.5, "half");
  table.output(job.seq, EventType::stdout_line, "line");
  table.start(job.seq, nullptr, t0);
  EXPECT_EQ(states_heard, 1);  // the start only
  EXPECT_EQ(events_heard, 3);
  table.unwatch(job.seq, stream);
  EXPECT_FALSE(job.control->watched.load());
  EXPECT_EQ(job.event_subscribers, 0u);
  table.unwatch(job.seq, poll);
}

TEST_F(JobTableTest, StreamsOfEveryJobMakeStartsLiveForExecutors) {
  JobTable table({});
  const Job& job = add(table, echo);
  EXPECT_FALSE(job.control->live());
  const auto recorder = table.watch_all([](const Job&, const JobEvent&) {}, WatchAll::recorder);
  EXPECT_FALSE(job.control->live());  // metrics can take the start with the result
  const auto stream = table.watch_all([](const Job&, const JobEvent&) {}, WatchAll::stream);
  EXPECT_TRUE(job.control->live());
  EXPECT_FALSE(job.control->wants_progress());  // GET /v1/events shows states only
  table.unwatch_all(stream);
  EXPECT_FALSE(job.control->live());
  table.unwatch_all(recorder);
}

TEST_F(JobTableTest, ObserversHearEventsInOrderAndMayUnwatchThemselves) {
  JobTable table({});
  const Job& job = add(table, echo);
  std::vector<std::pair<std::uint64_t, EventType>> heard;
  WatchId id = 0;
  id = table.watch(
      job.seq,
      [&](const Job&, const JobEvent& event) {
        heard.emplace_back(event.id, event.type);
        if (event.type == EventType::state && proto::is_final(event.state)) table.unwatch(job.seq, id);
      },
      Watch::events);  // progress is recorded only while someone streams
  table.start(job.seq, nullptr, t0);
  table.progress(job.seq, 0.5, "half");
  table.output(job.seq, EventType::stdout_line, "line");
  table.finish(job.seq, succeeded(1), t0);
  // Event 1 was "queued", published before the watch.
  EXPECT_EQ(heard, (std::vector<std::pair<std::uint64_t, EventType>>{{2, EventType::state},
                                                                     {3, EventType::progress},
                                                                     {4, EventType::stdout_line},
                                                                     {5, EventType::state}}));
  EXPECT_FALSE(table.watched(job.seq));
  ASSERT_EQ(job.history().size(), 5u);
  EXPECT_EQ(job.history().front().state, JobState::queued);
  EXPECT_EQ(job.history().back().state, JobState::succeeded);
}

TEST_F(JobTableTest, ProgressIsNotRecordedWhenNobodyStreams) {
  JobTable table({});
  const Job& job = add(table, echo);
  table.progress(job.seq, 0.25, "quiet");
  EXPECT_EQ(job.progress, 0.25);
  EXPECT_EQ(job.history().size(), 1u);  // only "queued"
}

TEST_F(JobTableTest, EventHistoryIsBoundedKeepingTheNewest) {
  JobTable table({.event_history = 4});
  const Job& job = add(table, echo);
  for (int i = 0; i < 10; ++i) table.output(job.seq, EventType::stdout_line, std::to_string(i));
  ASSERT_EQ(job.history().size(), 4u);
  EXPECT_EQ(job.history().front().id, 8u);
  EXPECT_EQ(job.history().back().text, "9");
  EXPECT_EQ(job.next_event_id, 12u);
}

TEST_F(JobTableTest, GlobalObserversHearStateEventsOfEveryJob) {
  JobTable table({});
  std::vector<JobState> states;
  const auto id = table.watch_all([&](const Job&, const JobEvent& event) { states.push_back(event.state); },
                                  WatchAll::recorder);
  const Job& a = add(table, echo);
  const Job& b = add(table, sleep);
  table.output(a.seq, EventType::stdout_line, "not a state");
  table.finish(b.seq, ended(JobState::cancelled, "cancelled"), t0);
  table.unwatch_all(id);
  table.finish(a.seq, succeeded(1), t0);
  EXPECT_EQ(states, (std::vector{JobState::queued, JobState::queued, JobState::cancelled}));
}

TEST_F(JobTableTest, GlobalObserversMayWatchAndUnwatchWhileCalled) {
  // They are called by index, not from a copy: changes made during a call take effect after it.
  JobTable table({});
  std::vector<std::string> heard;
  WatchId first = 0;
  WatchId second = 0;
  WatchId added = 0;
  first = table.watch_all(
      [&](const Job&, const JobEvent& event) {
        heard.push_back("first " + std::string(proto::to_string(event.state)));
        if (added == 0) {  // once: one more observer, and the second one leaves
          added = table.watch_all([&](const Job&, const JobEvent&) { heard.emplace_back("added"); },
                                  WatchAll::recorder);
          table.unwatch_all(second);
        }
      },
      WatchAll::recorder);
  second =
      table.watch_all([&](const Job&, const JobEvent&) { heard.emplace_back("second"); }, WatchAll::stream);
  const Job& job = add(table, echo);
  EXPECT_EQ(heard, (std::vector<std::string>{"first queued"}));  // second unwatched before its turn
  table.unwatch_all(first);
  table.finish(job.seq, succeeded(1), t0);
  EXPECT_EQ(heard, (std::vector<std::string>{"first queued", "added"}));
  table.unwatch_all(added);
  const Job& other = add(table, echo);
  table.finish(other.seq, succeeded(1), t0);
  EXPECT_EQ(heard.size(), 2u);
}
