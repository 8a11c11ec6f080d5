// The job record of the API (DESIGN §3) as JSON text, written straight into the response
// buffer: no DOM per read. A job keeps its params, result and executor fields as the JSON text
// they were rendered to once (jobs/job.hpp); a record splices those texts between its own
// fields, whose strings go through the same escaping nlohmann's serializer applies. GET, the
// submit and long-poll answers, cancel, list pages and SSE state frames all come from here.
//
// Pure functions of a const Job, loop thread only (a job is the table's). Never parses: the
// stored texts are valid JSON by construction (dumped by to_json_text).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "jobs/job.hpp"

namespace jobd::jobs {

// Which fields a record carries. A summary (the default of GET /v1/jobs) leaves out what can
// be large: params, result, earlier attempts' errors and the executor fields that are not
// numbers or booleans (stdout, stderr, signal, truncated). A full record has every field.
enum class RecordFields { summary, full };

struct RecordView {
  RecordFields fields = RecordFields::full;
  // An SSE state frame: the state its event announced instead of the job's own, and `at`,
  // when it did (a replayed older event keeps its own).
  std::optional<proto::JobState> state;
  std::optional<Clock::time_point> at;
};

// Fields in a fixed order: id, kind, executor, state, params, created_at, timeout_ms,
// max_attempts, attempt, run_at (while queued), started_at, finished_at, progress, result,
// error, attempts (earlier attempts' errors), idempotency_key, the executor fields, at.
void append_record(std::string& out, const Job& job, const RecordView& view = {});
std::string render_record(const Job& job, const RecordView& view = {});

// How every JSON text jobd keeps is written: compact, UTF-8 as is, invalid UTF-8 replaced by
// U+FFFD (what the responses always did).
std::string to_json_text(const nlohmann::json& value);

// `text` as a JSON string literal, quotes included, escaped exactly as to_json_text would.
void append_json_string(std::string& out, std::string_view text);

// A job's executor fields as stored: the text of one JSON object whose numbers and booleans
// come first, and where they end (so a summary splices that prefix alone). Names of record
// fields are dropped: an executor field never shadows the record's own.
struct DetailsText {
  std::string text;             // empty: no fields
  std::uint32_t brief_end = 0;  // offset just past the last number or boolean member (1: none)
};
DetailsText to_details_text(const nlohmann::json& details);

}  // namespace jobd::jobs
