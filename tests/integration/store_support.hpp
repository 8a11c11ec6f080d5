// What the store tests share: a directory that outlives one jobd (the same file across
// restarts), running jobd to see it refuse to start, reading every job through the list, and a
// raw look at the file through the SQLite C API (no sqlite3 shell needed).
#pragma once

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "harness.hpp"

namespace jobd::testing {

class StoreDir {
 public:
  StoreDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "jobd-store-it-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~StoreDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name = "jobd.db") const { return (path_ / name).string(); }
  std::string uri(const std::string& name = "jobd.db") const { return "sqlite:" + file(name); }

 private:
  std::filesystem::path path_;
};

// Runs jobd with no workers and `args` until it exits (at most 10 s): for start-ups that must fail.
// A jobd on `dir`'s store with the test kinds, one worker and two pool threads, then `more`.
inline std::vector<std::string> store_jobd_args(const StoreDir& dir, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--test-kinds", "--store", dir.uri(), "--workers", "1", "--threads", "2"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

inline JobdRun run_store_jobd_until_exit(const std::string& args) {
  return run_jobd_until_exit("--workers 0 " + args);
}

// Every job jobd lists (summaries), by id, following the cursors.
inline std::map<std::string, nlohmann::json> list_all(std::uint16_t port) {
  std::map<std::string, nlohmann::json> jobs;
  std::string cursor;
  for (;;) {
    const auto page = get(port, "/v1/jobs?limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor));
    if (page.status != 200) throw std::runtime_error("GET /v1/jobs: " + std::to_string(page.status));
    const auto body = page.json();
    for (const auto& job : body["jobs"]) jobs[job["id"].get<std::string>()] = job;
    if (body["next_cursor"].is_null()) return jobs;
    cursor = body["next_cursor"].get<std::string>();
  }
}

// One statement's first column as text (empty on an error, with `error` set).
inline std::string sqlite_query(const std::string& path, const char* sql, std::string* error = nullptr) {
  sqlite3* db = nullptr;
  std::string value;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK) {
      const int rc = sqlite3_step(statement);
      if (rc == SQLITE_ROW && sqlite3_column_text(statement, 0) != nullptr)
        value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
      else if (rc != SQLITE_DONE && error)
        *error = sqlite3_errmsg(db);
    } else if (error) {
      *error = sqlite3_errmsg(db);
    }
    sqlite3_finalize(statement);
  } else if (error) {
    *error = sqlite3_errmsg(db);
  }
  sqlite3_close(db);
  return value;
}

}  // namespace jobd::testing
