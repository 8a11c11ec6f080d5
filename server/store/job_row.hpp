// JobRow and Change: one job as the store keeps it, and one change to the stored jobs.
//
// Plain values, no behaviour: the job table builds them on the loop thread and hands them to a
// JobStore, which owns them from then on. JSON fields stay text here, rendered once by the table
// and never parsed by the store, so that writing and loading a million rows costs no JSON work.
// Must never include jobs/, api/, http/ or exec/: the store sits below the job table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "jobd/proto/job.hpp"

namespace jobd::store {

// Increases with every change written to one store: when_durable(t) waits for all changes up
// to and including t.
using Ticket = std::uint64_t;

struct JobRow {
  // Identity and order. `seq` is the table's JobSeq and the SQLite rowid: list order and
  // cursors survive a restart with it. `id` is the public id (32 hex chars); it has no index,
  // because reads stay in memory (a UNIQUE index measured 1.5-6x slower, DESIGN §7).
  std::uint64_t seq = 0;
  std::string id;

  // Fixed at submission.
  std::string kind;
  proto::Executor executor = proto::Executor::loop;
  std::string params_json;
  std::optional<std::string> idempotency_key;
  std::int64_t timeout_ms = 0;
  std::int64_t created_at_ms = 0;  // milliseconds since the Unix epoch, as every *_at_ms
  std::uint32_t max_attempts = 1;
  std::int64_t retry_delay_ms = 0;

  // Mutable: what an update carries (see Change).
  proto::JobState state = proto::JobState::queued;
  std::optional<std::int64_t> started_at_ms;
  std::optional<std::int64_t> finished_at_ms;
  std::optional<std::int64_t> run_at_ms;  // a delayed job or a retry waits until then
  std::uint32_t attempt = 1;
  std::string result_json;    // empty: none (stored as NULL)
  std::string error_type;     // empty: no error (proto::job_error values)
  std::string error_message;  // empty: none
  std::string details_json;   // executor fields (worker_pid, exit_code, ...); empty: none
  std::string attempts_json;  // earlier attempts' errors; empty: none

  friend bool operator==(const JobRow&, const JobRow&) = default;
};

enum class ChangeOp : std::uint8_t {
  insert,  // the whole row (a new job)
  update,  // the mutable columns of row.seq (a transition); the fixed ones are ignored
  remove,  // row.seq alone (eviction after retention); every other field is ignored
};

struct Change {
  ChangeOp op = ChangeOp::insert;
  JobRow row;
};

}  // namespace jobd::store
