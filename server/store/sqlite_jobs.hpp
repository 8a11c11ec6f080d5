// JobsTable: the jobs table's prepared statements, turning Changes into rows and rows back
// into JobRows.
//
// Knows the column list (sqlite_schema.cpp, version 1) and nothing of threads or batches: the
// writer calls apply() inside its transaction, load() streams at start-up. Every change is
// idempotent (an insert replaces, an update sets, a remove deletes), so a batch whose COMMIT
// reported an error after reaching the WAL can be applied again without harm.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "store/job_row.hpp"
#include "store/job_store.hpp"
#include "store/sqlite_db.hpp"

namespace jobd::store {

class JobsTable {
 public:
  // Prepares the statements; empty: ready, else why not.
  std::string prepare(Database& db);

  // A batch's transaction, prepared once (exec() would parse the SQL twice per batch).
  // SQLITE_DONE on success, else the SQLite error code.
  int begin() { return begin_.run(); }
  int commit() { return commit_.run(); }
  // Inside a transaction. SQLITE_DONE on success, else the SQLite error code.
  int apply(const ChangeRef& change);
  // A (coalesced) batch in order, a run of removes of consecutive seqs as one statement.
  int apply(std::span<const ChangeRef> batch);
  // Deletes the rows of `seqs` (ascending), a run of consecutive seqs as one statement.
  int remove_sorted(std::span<const std::uint64_t> seqs);
  // Raises the stored seq high-water mark to `seq` (never lowers it).
  int raise_max_seq(std::uint64_t seq);

  // Streams every row in seq order (start-up).
  LoadResult load(Database& db, const RowVisitor& visit);

 private:
  Statement insert_;
  Statement update_;
  Statement remove_;
  Statement remove_range_;
  Statement raise_max_seq_;
  Statement begin_;
  Statement commit_;
};

}  // namespace jobd::store
