// The SQLite store's file format: what makes a file a jobd store, its schema versions, and the
// connection settings (pragmas) every open applies. Start-up only; no threads.
//
// A file is a jobd store when its header says application_id 0x6a6f6264 ("jobd"). Its schema
// version is PRAGMA user_version: 0 for a new, empty file, then the number of the last migration
// applied. open_database refuses, with one line and before touching anything, a file that is not
// SQLite, an SQLite file of another application (another application_id, or tables without
// ours), and a version newer than this binary knows (an older jobd must not write a format it
// does not understand).
//
// The migration path: kMigrations[i] takes a file from version i to i + 1, in one transaction
// that also sets user_version, so a crash mid-migration leaves the previous version intact.
// Migrations are only ever appended, never edited once released; version 1 is the first
// release's jobs table. A change to the schema is therefore: append a migration (ALTER TABLE ...
// ADD COLUMN with a default, or CREATE new table + INSERT ... SELECT + DROP + RENAME), bump
// nothing else (kSchemaVersion is the list's length), and teach sqlite_jobs.cpp the new columns.
// Downgrades are refused, not attempted.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "store/job_store.hpp"
#include "store/sqlite_db.hpp"

namespace jobd::store {

inline constexpr std::int64_t kApplicationId = 0x6a6f6264;  // "jobd"

struct Migration {
  const char* what;  // for the log and for people reading this list
  const char* sql;
};

std::span<const Migration> migrations();
inline std::int64_t schema_version() { return static_cast<std::int64_t>(migrations().size()); }

// Opens `path` (creating it) with the store's settings, checks that it is a jobd store, and
// brings its schema up to date. Empty: ready; else one line naming the file and what is wrong.
// The caller holds the StoreLock: this takes SQLite's own exclusive lock as a second guard.
std::string open_database(Database& db, const std::string& path, const StoreOptions& options);

}  // namespace jobd::store
