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
#include <string_view>

#include "jobd/proto/job.hpp"

namespace jobd::store {

// Increases with every change written to one store: when_durable(t) waits for all changes up
// to and including t.
using Ticket = std::uint64_t;

// One job's row, with its texts as values (JobRow) or as views of values kept elsewhere (RowRef).
template <class Text>
struct BasicJobRow {
  // Identity and order. `seq` is the table's JobSeq and the SQLite rowid: list order and
  // cursors survive a restart with it. `id` is the public id (32 hex chars); it has no index,
  // because reads stay in memory (a UNIQUE index measured 1.5-6x slower, DESIGN §7).
  std::uint64_t seq = 0;
  Text id;

  // Fixed at submission.
  Text kind;
  proto::Executor executor = proto::Executor::loop;
  Text params_json;
  std::optional<Text> idempotency_key;
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
  Text result_json;    // empty: none (stored as NULL)
  Text error_type;     // empty: no error (proto::job_error values)
  Text error_message;  // empty: none
  Text details_json;   // executor fields (worker_pid, exit_code, ...); empty: none
  Text attempts_json;  // earlier attempts' errors; empty: none

  friend bool operator==(const BasicJobRow&, const BasicJobRow&) = default;
};

using JobRow = BasicJobRow<std::string>;
// The job table writes its changes as views (JobStore::write): the store copies each field
// once, into a buffer of its own, and no string is allocated per change on the loop or freed on
// the writer thread (change_buffer.hpp). Valid only while what it views is.
using RowRef = BasicJobRow<std::string_view>;

enum class ChangeOp : std::uint8_t {
  insert,  // the whole row (a new job)
  update,  // the mutable columns of row.seq (a transition); the fixed ones are ignored
  remove,  // row.seq alone (eviction after retention); every other field is ignored
};

struct Change {
  ChangeOp op = ChangeOp::insert;
  JobRow row;
};

struct ChangeRef {
  ChangeOp op = ChangeOp::insert;
  RowRef row;
};

// A row with its texts as another type: views of a JobRow's (ref_of), or values copied from a
// RowRef's (row_of).
template <class To, class From>
BasicJobRow<To> convert_row(const BasicJobRow<From>& from) {
  BasicJobRow<To> to;
  to.seq = from.seq;
  to.id = To(from.id);
  to.kind = To(from.kind);
  to.executor = from.executor;
  to.params_json = To(from.params_json);
  if (from.idempotency_key) to.idempotency_key.emplace(*from.idempotency_key);
  to.timeout_ms = from.timeout_ms;
  to.created_at_ms = from.created_at_ms;
  to.max_attempts = from.max_attempts;
  to.retry_delay_ms = from.retry_delay_ms;
  to.state = from.state;
  to.started_at_ms = from.started_at_ms;
  to.finished_at_ms = from.finished_at_ms;
  to.run_at_ms = from.run_at_ms;
  to.attempt = from.attempt;
  to.result_json = To(from.result_json);
  to.error_type = To(from.error_type);
  to.error_message = To(from.error_message);
  to.details_json = To(from.details_json);
  to.attempts_json = To(from.attempts_json);
  return to;
}
inline RowRef ref_of(const JobRow& row) { return convert_row<std::string_view>(row); }
inline JobRow row_of(const RowRef& ref) { return convert_row<std::string>(ref); }

}  // namespace jobd::store
