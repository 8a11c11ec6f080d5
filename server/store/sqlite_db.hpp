// Database and Statement: one SQLite connection and its prepared statements, as RAII values.
//
// A thin layer over the C API and nothing more: no threads, no policy. Errors are values (the
// SQLite result code, and error() for the connection's one-line message); nothing here throws.
// A Database is used by one thread at a time (opened with SQLITE_OPEN_NOMUTEX): the opening
// thread during start-up, then the store's writer thread alone.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace jobd::store {

class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&& other) noexcept {
    std::swap(stmt_, other.stmt_);
    return *this;
  }

  explicit operator bool() const { return stmt_ != nullptr; }
  sqlite3_stmt* get() const { return stmt_; }

  // Text is bound without a copy (SQLITE_STATIC): it must stay alive until reset().
  void bind(int index, std::int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void bind(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  }
  void bind(int index, const std::optional<std::int64_t>& value) {
    if (value)
      bind(index, *value);
    else
      sqlite3_bind_null(stmt_, index);
  }
  // Empty text is stored as NULL: "none" in JobRow's optional text columns.
  void bind_or_null(int index, std::string_view text) {
    if (text.empty())
      sqlite3_bind_null(stmt_, index);
    else
      bind(index, text);
  }

  int step() { return sqlite3_step(stmt_); }
  // Runs a statement that returns no row; SQLITE_DONE on success, reset either way.
  int run() {
    const int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    return rc;
  }
  void reset() { sqlite3_reset(stmt_); }

  std::int64_t column_int(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool column_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string_view column_text(int column) const {
    const auto* text = sqlite3_column_text(stmt_, column);
    return {reinterpret_cast<const char*>(text),
            static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  Database() = default;
  ~Database() { sqlite3_close_v2(db_); }
  Database(Database&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Database& operator=(Database&& other) noexcept {
    std::swap(db_, other.db_);
    return *this;
  }

  // Opens (creating) `path` read-write with extended result codes. Empty: opened; else why not.
  std::string open(const std::string& path, const std::string& vfs);
  void close() {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  sqlite3* get() const { return db_; }
  // The connection's last error, one line: "database or disk is full (13)".
  std::string error() const;
  bool in_transaction() const { return db_ != nullptr && sqlite3_get_autocommit(db_) == 0; }

  // Runs SQL text (one or more statements, no rows wanted); SQLITE_OK on success.
  int exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }
  // The first column of the first row of `sql` (a pragma's value), or nullopt on an error.
  std::optional<std::int64_t> query_int(const char* sql);
  std::optional<std::string> query_text(const char* sql);
  // A prepared statement kept for reuse; empty on an error (see error()).
  Statement prepare(std::string_view sql);

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace jobd::store
