#include "jobs/job_rows.hpp"

#include "jobs/job_table.hpp"
#include "kinds/kind.hpp"

namespace jobd::jobs {

std::int64_t to_unix_ms(Clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

Clock::time_point from_unix_ms(std::int64_t ms) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(ms)));
}

namespace {

void fill_mutable(store::RowRef& row, const Job& job, const FinalState* final) {
  row.seq = job.seq;
  row.attempt = job.attempt;
  row.attempts_json = job.attempts;
  // A final job waits for nothing (apply_final clears run_at as well).
  if (job.run_at && !final) row.run_at_ms = to_unix_ms(*job.run_at);
  row.state = final ? final->state : job.state;
  if (auto started = job.visible_started_at()) row.started_at_ms = to_unix_ms(*started);
  if (final) {
    row.finished_at_ms = to_unix_ms(final->at);
    row.result_json = final->result;
    if (final->error) {
      row.error_type = final->error->type;
      row.error_message = final->error->message;
    }
    row.details_json = final->details ? *final->details : job.details;
    return;
  }
  if (job.finished_at) row.finished_at_ms = to_unix_ms(*job.finished_at);
  row.result_json = job.result;
  if (job.error) {
    row.error_type = job.error->type;
    row.error_message = job.error->message;
  }
  row.details_json = job.details;
}

}  // namespace

store::RowRef insert_ref(const Job& job, const FinalState* final) {
  store::RowRef row;
  row.id = job.id;
  row.kind = job.kind->name;
  row.executor = job.executor;
  row.params_json = job.params;
  if (job.idempotency_key) row.idempotency_key = *job.idempotency_key;
  row.timeout_ms = job.timeout.count();
  row.created_at_ms = to_unix_ms(job.created_at);
  row.max_attempts = job.max_attempts;
  row.retry_delay_ms = job.retry_delay.count();
  fill_mutable(row, job, final);
  return row;
}

store::RowRef update_ref(const Job& job, const FinalState* final) {
  store::RowRef row;
  fill_mutable(row, job, final);
  return row;
}

}  // namespace jobd::jobs
