#include "store/sqlite_schema.hpp"

#include <cstdio>

namespace jobd::store {
namespace {

// Version 1: the jobs table and the seq high-water mark. Columns follow JobRow (job_row.hpp).
// executor and state are stored by their wire names, not enum numbers: the file stays readable
// with the sqlite3 shell, and reordering an enum can never change what a stored row means.
// JSON columns are text that load() hands over unparsed; empty values are NULL. No index but the
// rowid: reads are served from memory, and an index on the random ids measured 1.5-6x slower
// writes (DESIGN §7). store_meta keeps the highest seq ever inserted, so that the newest job's
// seq is not handed out again after it was removed and jobd restarted (cursors stay monotonic).
constexpr Migration kMigrations[] = {
    {"jobs table",
     "CREATE TABLE jobs ("
     " seq INTEGER PRIMARY KEY,"
     " id TEXT NOT NULL,"
     " kind TEXT NOT NULL,"
     " executor TEXT NOT NULL,"
     " state TEXT NOT NULL,"
     " params TEXT NOT NULL,"
     " idempotency_key TEXT,"
     " timeout_ms INTEGER NOT NULL,"
     " created_at_ms INTEGER NOT NULL,"
     " started_at_ms INTEGER,"
     " finished_at_ms INTEGER,"
     " run_at_ms INTEGER,"
     " attempt INTEGER NOT NULL,"
     " max_attempts INTEGER NOT NULL,"
     " retry_delay_ms INTEGER NOT NULL,"
     " result TEXT,"
     " error_type TEXT,"
     " error_message TEXT,"
     " details TEXT,"
     " attempts TEXT);"
     "CREATE TABLE store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
     "INSERT INTO store_meta VALUES ('max_seq', 0);"},
};

// Connection settings. Measured with bench/micro/store_commit (process durability, 64 clients)
// on the 2-vCPU VM, which was shared with other builds: CPU per job and commit latency moved by
// +-30% between identical runs, so only what stood out of that noise is set here.
// - 4 KiB pages (SQLite's default, set explicitly so that a new file never depends on the
//   build): 8 and 16 KiB were no different within the noise (8.0-12.1 and 8.7-9.0 us of CPU per
//   job against 9.2), and a transition rewrites a smaller page.
// - cache_size is left at SQLite's 2 MiB: 16 MiB made no difference (the writer touches only the
//   newest pages; load() reads each page once). temp_store does not matter: no sorts, no temp
//   tables (load() reads in rowid order).
// - Checkpoints: SqliteStore runs them itself, after acknowledging (kCheckpointFrames); SQLite's
//   automatic one inside COMMIT put 4-7 ms on the p99 commit at its default 1000 pages.
constexpr int kPageSize = 4096;
// After a checkpoint the WAL is cut back to 64 MiB, so a burst does not keep its disk space.
constexpr long long kJournalSizeLimit = 64LL * 1024 * 1024;

std::string hex(std::int64_t value) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%08llx", static_cast<unsigned long long>(value & 0xffffffff));
  return text;
}

std::string set(Database& db, const std::string& path, const std::string& pragma) {
  if (db.exec(pragma.c_str()) == SQLITE_OK) return {};
  return path + ": cannot set " + pragma + ": " + db.error();
}

// The tables of a file whose application_id is 0: none for a new file, some for a foreign one.
std::string table_names(Database& db) {
  std::string names;
  Statement tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name LIMIT 5");
  while (tables && tables.step() == SQLITE_ROW) {
    if (!names.empty()) names += ", ";
    names += tables.column_text(0);
  }
  return names;
}

std::string migrate(Database& db, const std::string& path, std::int64_t from) {
  for (auto version = from; version < schema_version(); ++version) {
    const Migration& migration = kMigrations[version];
    std::string sql = std::string("BEGIN IMMEDIATE;") + migration.sql;
    if (version == 0) sql += "PRAGMA application_id = " + std::to_string(kApplicationId) + ";";
    sql += "PRAGMA user_version = " + std::to_string(version + 1) + "; COMMIT;";
    if (db.exec(sql.c_str()) != SQLITE_OK) {
      std::string why = path + ": migration to schema version " + std::to_string(version + 1) + " (" +
                        migration.what + ") failed: " + db.error();
      if (db.in_transaction()) db.exec("ROLLBACK");
      return why;
    }
  }
  return {};
}

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

std::string open_database(Database& db, const std::string& path, const StoreOptions& options) {
  if (auto why = db.open(path, options.vfs); !why.empty()) return path + ": cannot open: " + why;
  // Exclusive before the first read: SQLite then keeps its lock for the connection's life and
  // keeps the WAL index in heap memory instead of a mmap'ed -shm file (which a full disk could
  // turn into SIGBUS).
  if (auto why = set(db, path, "PRAGMA locking_mode = EXCLUSIVE"); !why.empty()) return why;

  // The first read of the header: a file that is not SQLite fails here.
  const auto application_id = db.query_int("PRAGMA application_id");
  if (!application_id) {
    if ((sqlite3_errcode(db.get()) & 0xff) == SQLITE_NOTADB) return path + " is not an SQLite database";
    return path + ": cannot read: " + db.error();
  }
  const auto version = db.query_int("PRAGMA user_version");
  if (!version) return path + ": cannot read the schema version: " + db.error();
  if (*application_id == 0) {
    if (auto tables = table_names(db); !tables.empty())
      return path +
             " is an SQLite database of another application (no jobd application_id; tables: " + tables + ")";
  } else if (*application_id != kApplicationId) {
    return path + " is an SQLite database of another application (application_id " + hex(*application_id) +
           ", jobd's is " + hex(kApplicationId) + ")";
  }
  if (*version > schema_version())
    return path + " has schema version " + std::to_string(*version) + ", newer than this jobd knows (" +
           std::to_string(schema_version()) + "): run a newer jobd";
  if (*version == 0) {  // new: settings only a file without pages can take
    if (auto why = set(db, path, "PRAGMA page_size = " + std::to_string(kPageSize)); !why.empty()) return why;
  }

  const auto mode = db.query_text("PRAGMA journal_mode = WAL");
  if (mode != "wal") return path + ": cannot switch to WAL mode: " + (mode ? *mode : db.error());
  const char* synchronous = options.durability == Durability::machine ? "FULL" : "NORMAL";
  for (const std::string& pragma : {
           std::string("PRAGMA synchronous = ") + synchronous,
           "PRAGMA journal_size_limit = " + std::to_string(kJournalSizeLimit),
           // No memory-mapped I/O: a write fault on a full disk would be SIGBUS, not an error.
           std::string("PRAGMA mmap_size = 0"),
           std::string("PRAGMA trusted_schema = OFF"),
       }) {
    if (auto why = set(db, path, pragma); !why.empty()) return why;
  }
  return migrate(db, path, *version);
}

}  // namespace jobd::store
