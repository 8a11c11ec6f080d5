#include "cluster/remote_record.hpp"

#include <algorithm>

#include "jobs/job_rows.hpp"

namespace jobd::cluster {

jobs::Job remote_job(store::JobRow& row, const kinds::Kind& kind) {
  jobs::Job job;
  job.seq = row.seq;
  job.id = std::move(row.id);
  job.kind = &kind;
  job.executor = row.executor;
  job.state = row.state;
  job.params = std::move(row.params_json);
  job.idempotency_key = std::move(row.idempotency_key);
  job.timeout = std::chrono::milliseconds(row.timeout_ms);
  job.created_at = jobs::from_unix_ms(row.created_at_ms);
  job.max_attempts = std::max<std::uint32_t>(row.max_attempts, 1);
  job.retry_delay = std::chrono::milliseconds(row.retry_delay_ms);
  job.attempt = std::max<std::uint32_t>(row.attempt, 1);
  job.attempts = std::move(row.attempts_json);
  if (row.run_at_ms && row.state == proto::JobState::queued) job.run_at = jobs::from_unix_ms(*row.run_at_ms);
  if (row.started_at_ms) job.started_at = jobs::from_unix_ms(*row.started_at_ms);
  if (!row.details_json.empty()) {
    auto details = jobs::to_details_text(nlohmann::json::parse(row.details_json, nullptr, false));
    job.details = std::move(details.text);
    job.details_brief_end = details.brief_end;
  }
  if (proto::is_final(row.state)) {
    job.finished_at = jobs::from_unix_ms(row.finished_at_ms.value_or(row.created_at_ms));
    job.result = std::move(row.result_json);
    if (!row.error_type.empty() || !row.error_message.empty()) {
      job.error = std::make_unique<const jobs::JobError>(
          jobs::JobError{std::move(row.error_type), std::move(row.error_message)});
    }
  }
  return job;
}

void append_remote_record(std::string& out, store::JobRow& row, const kinds::Kind& kind,
                          const jobs::RecordView& view) {
  const jobs::Job job = remote_job(row, kind);
  jobs::append_record(out, job, view);
}

std::string render_remote_record(store::JobRow& row, const kinds::Kind& kind, const jobs::RecordView& view) {
  std::string out;
  append_remote_record(out, row, kind, view);
  return out;
}

}  // namespace jobd::cluster
