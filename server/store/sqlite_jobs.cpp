#include "store/sqlite_jobs.hpp"

namespace jobd::store {
namespace {

constexpr const char* kInsert =
    "INSERT OR REPLACE INTO jobs (seq, id, kind, executor, state, params, idempotency_key, timeout_ms,"
    " created_at_ms, started_at_ms, finished_at_ms, run_at_ms, attempt, max_attempts, retry_delay_ms, result,"
    " error_type, error_message, details, attempts)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)";
// The mutable columns, numbered as in kInsert so that one binder serves both.
constexpr const char* kUpdate =
    "UPDATE jobs SET state = ?5, started_at_ms = ?10, finished_at_ms = ?11, run_at_ms = ?12, attempt = ?13,"
    " result = ?16, error_type = ?17, error_message = ?18, details = ?19, attempts = ?20 WHERE seq = ?1";
constexpr const char* kRemove = "DELETE FROM jobs WHERE seq = ?1";
constexpr const char* kRemoveRange = "DELETE FROM jobs WHERE seq BETWEEN ?1 AND ?2";
constexpr const char* kRaiseMaxSeq = "UPDATE store_meta SET value = max(value, ?1) WHERE key = 'max_seq'";
constexpr const char* kSelect =
    "SELECT seq, id, kind, executor, state, params, idempotency_key, timeout_ms, created_at_ms, "
    "started_at_ms,"
    " finished_at_ms, run_at_ms, attempt, max_attempts, retry_delay_ms, result, error_type, error_message,"
    " details, attempts FROM jobs ORDER BY seq";

std::int64_t as_int(std::uint64_t value) { return static_cast<std::int64_t>(value); }

void bind_mutable(Statement& s, const RowRef& row) {
  s.bind(1, as_int(row.seq));
  s.bind(5, proto::to_string(row.state));
  s.bind(10, row.started_at_ms);
  s.bind(11, row.finished_at_ms);
  s.bind(12, row.run_at_ms);
  s.bind(13, std::int64_t{row.attempt});
  s.bind_or_null(16, row.result_json);
  s.bind_or_null(17, row.error_type);
  s.bind_or_null(18, row.error_message);
  s.bind_or_null(19, row.details_json);
  s.bind_or_null(20, row.attempts_json);
}

void bind_fixed(Statement& s, const RowRef& row) {
  s.bind(2, row.id);
  s.bind(3, row.kind);
  s.bind(4, proto::to_string(row.executor));
  s.bind(6, row.params_json);
  if (row.idempotency_key)
    s.bind(7, *row.idempotency_key);
  else
    sqlite3_bind_null(s.get(), 7);
  s.bind(8, row.timeout_ms);
  s.bind(9, row.created_at_ms);
  s.bind(14, std::int64_t{row.max_attempts});
  s.bind(15, row.retry_delay_ms);
}

std::optional<std::int64_t> optional_int(const Statement& s, int column) {
  if (s.column_null(column)) return std::nullopt;
  return s.column_int(column);
}

// NULL reads as empty: the text columns' "none".
void assign_text(std::string& to, const Statement& s, int column) { to.assign(s.column_text(column)); }

}  // namespace

std::string JobsTable::prepare(Database& db) {
  insert_ = db.prepare(kInsert);
  update_ = db.prepare(kUpdate);
  remove_ = db.prepare(kRemove);
  remove_range_ = db.prepare(kRemoveRange);
  raise_max_seq_ = db.prepare(kRaiseMaxSeq);
  begin_ = db.prepare("BEGIN IMMEDIATE");
  commit_ = db.prepare("COMMIT");
  if (!insert_ || !update_ || !remove_ || !remove_range_ || !raise_max_seq_ || !begin_ || !commit_)
    return "cannot prepare the store's statements: " + db.error();
  return {};
}

int JobsTable::apply(const ChangeRef& change) {
  switch (change.op) {
    case ChangeOp::insert:
      bind_fixed(insert_, change.row);
      bind_mutable(insert_, change.row);
      return insert_.run();
    case ChangeOp::update: bind_mutable(update_, change.row); return update_.run();
    case ChangeOp::remove: remove_.bind(1, as_int(change.row.seq)); return remove_.run();
  }
  return SQLITE_MISUSE;
}

// Eviction removes the oldest finished jobs in a burst (the table evicts as it applies a batch's
// finals), mostly of consecutive seqs: such a run is one range delete, one statement and one
// cursor walk instead of a seek per row (a quarter of what evicting costs, measured with
// SQLite alone at 40 jobs a commit: ~1.7 -> ~1.25 us per evicted row). Only removes that
// follow each other in the batch form a run, so the batch's order is kept.
int JobsTable::apply(std::span<const ChangeRef> batch) {
  for (std::size_t i = 0; i < batch.size();) {
    std::size_t end = i + 1;
    if (batch[i].op == ChangeOp::remove) {
      while (end < batch.size() && batch[end].op == ChangeOp::remove &&
             batch[end].row.seq == batch[end - 1].row.seq + 1)
        ++end;
    }
    int rc;
    if (end - i > 1) {
      remove_range_.bind(1, as_int(batch[i].row.seq));
      remove_range_.bind(2, as_int(batch[end - 1].row.seq));
      rc = remove_range_.run();
    } else {
      rc = apply(batch[i]);
    }
    if (rc != SQLITE_DONE) return rc;
    i = end;
  }
  return SQLITE_DONE;
}

int JobsTable::remove_sorted(std::span<const std::uint64_t> seqs) {
  for (std::size_t i = 0; i < seqs.size();) {
    std::size_t end = i + 1;
    while (end < seqs.size() && seqs[end] == seqs[end - 1] + 1) ++end;
    Statement& statement = end - i > 1 ? remove_range_ : remove_;
    statement.bind(1, as_int(seqs[i]));
    if (end - i > 1) statement.bind(2, as_int(seqs[end - 1]));
    if (const int rc = statement.run(); rc != SQLITE_DONE) return rc;
    i = end;
  }
  return SQLITE_DONE;
}

int JobsTable::raise_max_seq(std::uint64_t seq) {
  raise_max_seq_.bind(1, as_int(seq));
  return raise_max_seq_.run();
}

LoadResult JobsTable::load(Database& db, const RowVisitor& visit) {
  LoadResult result;
  if (auto max_seq = db.query_int("SELECT value FROM store_meta WHERE key = 'max_seq'"))
    result.max_seq = static_cast<std::uint64_t>(*max_seq);
  Statement select = db.prepare(kSelect);
  if (!select) {
    result.error = "cannot read the jobs: " + db.error();
    return result;
  }
  JobRow row;
  int rc;
  while ((rc = select.step()) == SQLITE_ROW) {
    row.seq = static_cast<std::uint64_t>(select.column_int(0));
    assign_text(row.id, select, 1);
    assign_text(row.kind, select, 2);
    const auto executor = proto::parse_executor(select.column_text(3));
    const auto state = proto::parse_job_state(select.column_text(4));
    if (!executor || !state) {
      result.error = "job " + std::to_string(row.seq) + " has an unknown executor or state ('" +
                     std::string(select.column_text(3)) + "', '" + std::string(select.column_text(4)) + "')";
      return result;
    }
    row.executor = *executor;
    row.state = *state;
    assign_text(row.params_json, select, 5);
    if (select.column_null(6))
      row.idempotency_key.reset();
    else
      row.idempotency_key.emplace(select.column_text(6));
    row.timeout_ms = select.column_int(7);
    row.created_at_ms = select.column_int(8);
    row.started_at_ms = optional_int(select, 9);
    row.finished_at_ms = optional_int(select, 10);
    row.run_at_ms = optional_int(select, 11);
    row.attempt = static_cast<std::uint32_t>(select.column_int(12));
    row.max_attempts = static_cast<std::uint32_t>(select.column_int(13));
    row.retry_delay_ms = select.column_int(14);
    assign_text(row.result_json, select, 15);
    assign_text(row.error_type, select, 16);
    assign_text(row.error_message, select, 17);
    assign_text(row.details_json, select, 18);
    assign_text(row.attempts_json, select, 19);
    ++result.rows;
    if (row.seq > result.max_seq) result.max_seq = row.seq;
    visit(row);
  }
  if (rc != SQLITE_DONE) result.error = "cannot read the jobs: " + db.error();
  return result;
}

}  // namespace jobd::store
