// JobTable::retry: a failed attempt goes back to queued with the next attempt, its error kept in
// `attempts`, its start and executor fields cleared, a fresh JobControl, and every state event
// kept in the history (queued, running, queued, running, final).
#include <gtest/gtest.h>

#include "jobs/job_table.hpp"
#include "jobs/record.hpp"
#include "kinds/builtin.hpp"

using namespace jobd;
using namespace jobd::jobs;
using namespace std::chrono_literals;
using proto::JobState;

namespace {
class JobTableRetryTest : public ::testing::Test {
 protected:
  kinds::Kind echo = kinds::make_echo_kind();
  Clock::time_point t0 = Clock::now();
  JobTable table{{}};

  const Job& add(std::uint32_t max_attempts, std::optional<Clock::time_point> run_at = std::nullopt) {
    return table.create(echo, proto::Executor::process, "{}", 1s, std::nullopt, t0,
                        {.max_attempts = max_attempts, .retry_delay = 100ms, .run_at = run_at});
  }
  static nlohmann::json record(const Job& job) { return nlohmann::json::parse(render_record(job)); }
  static proto::Outcome crashed(std::string message = "worker killed by SIGSEGV") {
    return proto::Outcome::failure(proto::job_error::crashed, std::move(message));
  }
};
}  // namespace

TEST_F(JobTableRetryTest, CreateKeepsThePlan) {
  const Job& job = add(3, t0 + 5s);
  EXPECT_EQ(job.max_attempts, 3u);
  EXPECT_EQ(job.attempt, 1u);
  EXPECT_EQ(job.retry_delay, 100ms);
  EXPECT_EQ(job.run_at, t0 + 5s);
  const auto shown = record(job);
  EXPECT_EQ(shown["max_attempts"], 3);
  EXPECT_EQ(shown["attempt"], 1);
  EXPECT_EQ(shown["run_at"], format_rfc3339(t0 + 5s));
  EXPECT_EQ(table.counts().active, 1u);
}

TEST_F(JobTableRetryTest, ARetryGoesBackToQueuedWithTheNextAttemptAndTheError) {
  const Job& job = add(3);
  table.start(job.seq, {{"worker_pid", 42}}, t0 + 1ms);
  const auto old_control = job.control;
  ASSERT_TRUE(table.retry(job.seq, crashed(), t0 + 500ms, t0 + 10ms));
  EXPECT_EQ(job.state, JobState::queued);
  EXPECT_EQ(job.attempt, 2u);
  EXPECT_EQ(job.run_at, t0 + 500ms);
  EXPECT_FALSE(job.started_at.has_value());
  EXPECT_TRUE(job.details.empty());
  EXPECT_NE(job.control, old_control);
  EXPECT_FALSE(job.error);
  const auto shown = record(job);
  EXPECT_EQ(shown["state"], "queued");
  EXPECT_FALSE(shown.contains("worker_pid"));
  ASSERT_EQ(shown["attempts"].size(), 1u);
  EXPECT_EQ(shown["attempts"][0], nlohmann::json({{"attempt", 1},
                                                  {"type", "crashed"},
                                                  {"message", "worker killed by SIGSEGV"},
                                                  {"started_at", format_rfc3339(t0 + 1ms)},
                                                  {"finished_at", format_rfc3339(t0 + 10ms)}}));
  // A summary leaves the attempts out (they can be long).
  const auto summary = nlohmann::json::parse(render_record(job, {.fields = RecordFields::summary}));
  EXPECT_FALSE(summary.contains("attempts"));
  EXPECT_EQ(summary["attempt"], 2);
  // Starting the next attempt clears run_at; ending it keeps the attempts.
  table.start(job.seq, nullptr, t0 + 600ms);
  EXPECT_FALSE(job.run_at.has_value());
  EXPECT_FALSE(record(job).contains("run_at"));
  table.finish(job.seq, proto::Outcome::success({}), t0 + 700ms);
  EXPECT_EQ(record(job)["attempts"].size(), 1u);
  EXPECT_EQ(record(job)["attempt"], 2);
}

TEST_F(JobTableRetryTest, TheHistoryKeepsEveryAttemptsStates) {
  const Job& job = add(2);
  std::vector<JobState> seen;
  table.watch(job.seq, [&](const Job&, const JobEvent& event) { seen.push_back(event.state); });
  table.start(job.seq, nullptr, t0 + 1ms);
  table.retry(job.seq, crashed(), t0 + 20ms, t0 + 10ms);
  table.start(job.seq, nullptr, t0 + 30ms);
  table.finish(job.seq, crashed("again"), t0 + 40ms);
  EXPECT_EQ(seen, (std::vector<JobState>{JobState::running, JobState::queued, JobState::running,
                                         JobState::failed}));
  std::vector<JobState> history;
  std::vector<std::uint64_t> ids;
  for (const auto& event : job.history()) {
    history.push_back(event.state);
    ids.push_back(event.id);
  }
  EXPECT_EQ(history, (std::vector<JobState>{JobState::queued, JobState::running, JobState::queued,
                                            JobState::running, JobState::failed}));
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(job.history()[1].at, t0 + 1ms);
}

TEST_F(JobTableRetryTest, NoRetryPastTheLastAttemptOrOfAFinalJob) {
  const Job& once = add(1);
  EXPECT_FALSE(table.retry(once.seq, crashed(), t0 + 1s, t0));
  EXPECT_EQ(once.attempt, 1u);
  const Job& twice = add(2);
  EXPECT_TRUE(table.retry(twice.seq, crashed(), t0 + 1s, t0));
  EXPECT_FALSE(table.retry(twice.seq, crashed(), t0 + 1s, t0));
  EXPECT_EQ(twice.attempt, 2u);
  const Job& done = add(3);
  table.finish(done.seq, proto::Outcome::success({}), t0);
  EXPECT_FALSE(table.retry(done.seq, crashed(), t0 + 1s, t0));
  EXPECT_FALSE(table.retry(add(3).seq, proto::Outcome::success({}), t0 + 1s, t0));
}
