// Human-readable output of jobctl: tables, job records, event lines and bench reports. Pure
// functions from data to text (no I/O), so their layout is unit-tested; --json output bypasses
// them and prints the server's own JSON.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "jobd/client/load.hpp"
#include "jobd/client/sse.hpp"

namespace jobd::jobctl {

using Row = std::vector<std::string>;

// Left-aligned columns separated by two spaces; the last column is not padded.
std::string format_table(const Row& header, const std::vector<Row>& rows);

// "2/3": a record's attempt of its max_attempts (shown when it may run more than once).
std::string attempt_text(const nlohmann::json& record);
// A job record as "field  value" lines (the fields users look at first, then any others).
std::string format_job(const nlohmann::json& record);
// One row of the job table: ID, KIND, EXECUTOR, STATE, CREATED, TOOK.
Row job_row(const nlohmann::json& record);
std::string format_job_list(const nlohmann::json& page);
std::string format_kinds(const nlohmann::json& catalog);

// One event of `jobctl watch`, without the trailing newline.
std::string format_event(const client::SseEvent& event);

// Milliseconds between two RFC 3339 timestamps as jobd writes them; nullopt if either is not one.
std::optional<double> elapsed_ms(const std::string& from, const std::string& to);
// "850 us", "12.3 ms", "4.56 s".
std::string format_ms(double ms);

std::string format_progress(const client::LoadSnapshot& snapshot, std::uint64_t total_jobs);
std::string format_bench_report(const client::LoadReport& report, const std::string& title);

}  // namespace jobd::jobctl
