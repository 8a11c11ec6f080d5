#include "store/sqlite_db.hpp"

namespace jobd::store {

namespace {

// Before SQLite initializes itself (its first sqlite3_open_v2 in this process): no memory
// statistics. They cost every sqlite3_malloc and sqlite3_free a global mutex (~13 of them per
// job in the writer, measured with callgrind), and jobd reads none of them. SQLite refuses the
// setting once initialized (SQLITE_MISUSE), which changes nothing but the speed.
void configure_sqlite_once() {
  static const int configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)configured;
}

}  // namespace

std::string Database::open(const std::string& path, const std::string& vfs) {
  close();
  configure_sqlite_once();
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, vfs.empty() ? nullptr : vfs.c_str());
  if (rc == SQLITE_OK) return {};
  std::string why = db_ ? error() : sqlite3_errstr(rc);
  close();
  return why;
}

std::string Database::error() const {
  if (db_ == nullptr) return "no database";
  return std::string(sqlite3_errmsg(db_)) + " (" + std::to_string(sqlite3_extended_errcode(db_)) + ")";
}

std::optional<std::int64_t> Database::query_int(const char* sql) {
  Statement statement = prepare(sql);
  if (!statement || statement.step() != SQLITE_ROW) return std::nullopt;
  return statement.column_int(0);
}

std::optional<std::string> Database::query_text(const char* sql) {
  Statement statement = prepare(sql);
  if (!statement || statement.step() != SQLITE_ROW) return std::nullopt;
  return std::string(statement.column_text(0));
}

Statement Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                     nullptr);
  return Statement(stmt);
}

}  // namespace jobd::store
