// A job read back from Redis (cluster/remote_record.hpp) renders the same record as the job in
// the table it came from: any replica answers for any job with the same bytes.
#include <gtest/gtest.h>

#include "cluster/remote_record.hpp"
#include "jobs/job_rows.hpp"
#include "jobs/job_table.hpp"
#include "jobs/record.hpp"
#include "kinds/builtin.hpp"

using namespace jobd;
using namespace jobd::jobs;
using namespace std::chrono_literals;

namespace {
// The row a store would hold for `job` now: its fixed fields and its mutable ones.
store::JobRow row_of(const Job& job) {
  store::JobRow row = insert_row(job);
  const store::JobRow now = update_row(job);
  row.state = now.state;
  row.started_at_ms = now.started_at_ms;
  row.finished_at_ms = now.finished_at_ms;
  row.run_at_ms = now.run_at_ms;
  row.attempt = now.attempt;
  row.result_json = now.result_json;
  row.error_type = now.error_type;
  row.error_message = now.error_message;
  row.details_json = now.details_json;
  row.attempts_json = now.attempts_json;
  return row;
}
}  // namespace

TEST(RemoteRecord, IsTheSameRecordAsTheTablesForQueuedFinishedAndFailedJobs) {
  const kinds::Kind echo = kinds::make_echo_kind();
  JobTable table({});
  const auto t0 = Clock::time_point(1'800'000'000'000ms);
  const Job& queued = table.create(echo, proto::Executor::loop, R"({"a":1})", 5s, "key-1", t0,
                                   {.max_attempts = 3, .retry_delay = 100ms, .run_at = t0 + 10s});
  store::JobRow queued_row = row_of(queued);
  EXPECT_EQ(cluster::render_remote_record(queued_row, echo), render_record(queued));

  const Job& done = table.create(echo, proto::Executor::thread, R"({"b":[1,2]})", 5s, std::nullopt, t0);
  table.start(done.seq, nlohmann::json{{"worker_pid", 42}}, t0 + 1s);
  table.finish(done.seq, proto::Outcome::success({{"echo", {{"b", {1, 2}}}}}), t0 + 2s);
  store::JobRow done_row = row_of(done);
  EXPECT_EQ(cluster::render_remote_record(done_row, echo), render_record(done));
  store::JobRow summary_row = row_of(done);
  const RecordView summary{.fields = RecordFields::summary};
  EXPECT_EQ(cluster::render_remote_record(summary_row, echo, summary), render_record(done, summary));

  const Job& failed = table.create(echo, proto::Executor::loop, "{}", 5s, std::nullopt, t0,
                                   {.max_attempts = 2, .retry_delay = 100ms});
  table.start(failed.seq, nullptr, t0 + 1s);
  ASSERT_TRUE(table.retry(failed.seq, proto::Outcome::failure(proto::job_error::crashed, "boom"), t0 + 2s,
                          t0 + 1500ms));
  table.start(failed.seq, nullptr, t0 + 2s);
  table.finish(failed.seq,
               proto::Outcome::failure(proto::job_error::timed_out, "too slow", proto::JobState::timed_out),
               t0 + 3s);
  store::JobRow failed_row = row_of(failed);
  EXPECT_EQ(cluster::render_remote_record(failed_row, echo), render_record(failed));
}
