// What the store tests share: a temporary directory, rows with known contents, running the loop
// until something happened, a raw look at a file (integrity_check), and a faulty SQLite VFS.
//
// The faulty VFS ("jobd-faulty") wraps the default one and, on demand, fails writes with an I/O
// error or delays one write: that is how the tests make a commit fail or take long without root,
// a full disk or timing luck. It only ever changes what the tests ask for; everything else goes
// straight to the real VFS.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <thread>

#include "store/job_store.hpp"

namespace jobd::store {
// Lets GoogleTest show a row that differs, column by column, instead of its bytes.
inline void PrintTo(const JobRow& r, std::ostream* os) {
  auto opt = [](const auto& v) { return v ? std::to_string(*v) : std::string("none"); };
  *os << "{seq " << r.seq << ", id " << r.id << ", kind " << r.kind << ", " << proto::to_string(r.executor)
      << ", " << proto::to_string(r.state) << ", params " << r.params_json << ", key "
      << r.idempotency_key.value_or("none") << ", timeout " << r.timeout_ms << ", created " << r.created_at_ms
      << ", started " << opt(r.started_at_ms) << ", finished " << opt(r.finished_at_ms) << ", run_at "
      << opt(r.run_at_ms) << ", attempt " << r.attempt << "/" << r.max_attempts << ", retry "
      << r.retry_delay_ms << ", result " << r.result_json << ", error " << r.error_type << ": "
      << r.error_message << ", details " << r.details_json << ", attempts " << r.attempts_json << "}";
}
}  // namespace jobd::store

namespace jobd::store::testing {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "jobd-store-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string file(const char* name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A job whose every field depends on (seq, phase): phase 1 queued, 2 running, 3 succeeded. A
// stored row can thus be checked for being exactly one of its job's phases.
inline JobRow job_row(std::uint64_t seq, int phase = 1, std::size_t params_bytes = 16) {
  JobRow row;
  row.seq = seq;
  row.id = std::string(16, 'a') + std::to_string(1000000000000000 + seq);
  row.kind = seq % 2 ? "echo" : "sleep";
  row.executor = seq % 3 ? proto::Executor::thread : proto::Executor::process;
  row.params_json = R"({"n":)" + std::to_string(seq) + R"(,"pad":")" + std::string(params_bytes, 'p') + "\"}";
  if (seq % 4 == 0) row.idempotency_key = "key-" + std::to_string(seq);
  row.timeout_ms = 1000 + static_cast<std::int64_t>(seq);
  row.created_at_ms = 1'800'000'000'000 + static_cast<std::int64_t>(seq);
  row.max_attempts = 3;
  row.retry_delay_ms = 250;
  if (phase >= 2) {
    row.state = proto::JobState::running;
    row.started_at_ms = row.created_at_ms + 5;
    row.details_json = R"({"worker_pid":)" + std::to_string(seq) + "}";
  }
  if (phase >= 3) {
    row.state = proto::JobState::succeeded;
    row.finished_at_ms = row.created_at_ms + 9;
    row.result_json = R"({"echo":)" + std::to_string(seq) + "}";
  }
  return row;
}

inline Change insert(JobRow row) { return {ChangeOp::insert, std::move(row)}; }
inline Change update(JobRow row) { return {ChangeOp::update, std::move(row)}; }

// A loop that keeps running while the writer thread commits (completions come from there).
struct Loop {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> busy{io.get_executor()};

  // Runs handlers until `done()` or `limit` passed; returns done().
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) io.run_one_for(5ms);
    return done();
  }
  void run_for(std::chrono::milliseconds time) {
    run_until([] { return false; }, time);
  }
};

inline std::unique_ptr<JobStore> open_or_fail(const std::string& path, asio::io_context& io,
                                              const StoreOptions& options = {}) {
  auto opened = open_store("sqlite:" + path, options, io.get_executor());
  EXPECT_TRUE(opened.store) << opened.error;
  return std::move(opened.store);
}

// Every stored row by seq, read through a fresh SqliteStore (which is closed again).
inline std::map<std::uint64_t, JobRow> load_all(const std::string& path, LoadResult* result = nullptr) {
  asio::io_context io;
  std::map<std::uint64_t, JobRow> rows;
  auto store = open_or_fail(path, io);
  if (!store) return rows;
  auto loaded = store->load([&](JobRow& row) { rows.emplace(row.seq, std::move(row)); });
  EXPECT_EQ(loaded.error, "");
  if (result) *result = loaded;
  store->close();
  return rows;
}

// PRAGMA integrity_check of a closed store's file: "ok" when sound.
inline std::string integrity(const std::string& path) {
  sqlite3* db = nullptr;
  std::string answer = "cannot open";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    answer.clear();
    sqlite3_exec(
        db, "PRAGMA integrity_check",
        [](void* out, int, char** values, char**) {
          *static_cast<std::string*>(out) += values[0] ? values[0] : "NULL";
          return 0;
        },
        &answer, nullptr);
  }
  sqlite3_close(db);
  return answer;
}

// Runs SQL on a closed store's file (to make it foreign, newer, ...).
inline void raw_exec(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

// The faulty VFS. Tests set these; the writer thread reads them.
struct Faults {
  std::atomic<bool> fail_writes{false};      // every write and sync: SQLITE_IOERR
  std::atomic<long> delay_next_write_ms{0};  // the next write sleeps this long first
  std::atomic<long> writes{0};               // writes seen (to wait for a commit to begin)
};
inline Faults faults;
inline constexpr const char* kFaultyVfs = "jobd-faulty";

// Waits (up to `limit`) until the writer wrote anything since `writes_before`: its commit began.
inline bool commit_began_since(long writes_before, std::chrono::milliseconds limit = 5s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (faults.writes.load() == writes_before && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  return faults.writes.load() != writes_before;
}

namespace faulty {
struct File {
  sqlite3_file base;
  sqlite3_file* real;  // the default VFS's file, allocated right after this struct
};
inline sqlite3_vfs* real_vfs() { return sqlite3_vfs_find(nullptr); }
inline sqlite3_file* real(sqlite3_file* file) { return reinterpret_cast<File*>(file)->real; }

inline int write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
  faults.writes.fetch_add(1);
  if (const long delay = faults.delay_next_write_ms.exchange(0); delay > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
  if (faults.fail_writes.load()) return SQLITE_IOERR_WRITE;
  return real(f)->pMethods->xWrite(real(f), data, amount, offset);
}
inline int sync(sqlite3_file* f, int flags) {
  if (faults.fail_writes.load()) return SQLITE_IOERR_FSYNC;
  return real(f)->pMethods->xSync(real(f), flags);
}

inline const sqlite3_io_methods* methods() {
  static const sqlite3_io_methods table = [] {
    sqlite3_io_methods m{};
    m.iVersion = 3;
    m.xClose = [](sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); };
    m.xRead = [](sqlite3_file* f, void* d, int n, sqlite3_int64 o) {
      return real(f)->pMethods->xRead(real(f), d, n, o);
    };
    m.xWrite = write;
    m.xTruncate = [](sqlite3_file* f, sqlite3_int64 n) { return real(f)->pMethods->xTruncate(real(f), n); };
    m.xSync = sync;
    m.xFileSize = [](sqlite3_file* f, sqlite3_int64* n) { return real(f)->pMethods->xFileSize(real(f), n); };
    m.xLock = [](sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); };
    m.xUnlock = [](sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); };
    m.xCheckReservedLock = [](sqlite3_file* f, int* r) {
      return real(f)->pMethods->xCheckReservedLock(real(f), r);
    };
    m.xFileControl = [](sqlite3_file* f, int op, void* a) {
      return real(f)->pMethods->xFileControl(real(f), op, a);
    };
    m.xSectorSize = [](sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); };
    m.xDeviceCharacteristics = [](sqlite3_file* f) {
      return real(f)->pMethods->xDeviceCharacteristics(real(f));
    };
    m.xShmMap = [](sqlite3_file* f, int r, int s, int w, void volatile** p) {
      return real(f)->pMethods->xShmMap(real(f), r, s, w, p);
    };
    m.xShmLock = [](sqlite3_file* f, int o, int n, int fl) {
      return real(f)->pMethods->xShmLock(real(f), o, n, fl);
    };
    m.xShmBarrier = [](sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); };
    m.xShmUnmap = [](sqlite3_file* f, int d) { return real(f)->pMethods->xShmUnmap(real(f), d); };
    m.xFetch = [](sqlite3_file* f, sqlite3_int64 o, int n, void** p) {
      return real(f)->pMethods->xFetch(real(f), o, n, p);
    };
    m.xUnfetch = [](sqlite3_file* f, sqlite3_int64 o, void* p) {
      return real(f)->pMethods->xUnfetch(real(f), o, p);
    };
    return m;
  }();
  return &table;
}

inline int open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  auto* shim = reinterpret_cast<File*>(file);
  shim->real = reinterpret_cast<sqlite3_file*>(shim + 1);
  const int rc = real_vfs()->xOpen(real_vfs(), name, shim->real, flags, out_flags);
  shim->base.pMethods = shim->real->pMethods ? methods() : nullptr;
  return rc;
}
}  // namespace faulty

// Registers the faulty VFS once (not as the default) and resets its faults.
inline void use_faulty_vfs() {
  faults.fail_writes = false;
  faults.delay_next_write_ms = 0;
  if (sqlite3_vfs_find(kFaultyVfs)) return;
  static sqlite3_vfs vfs = *faulty::real_vfs();
  vfs.zName = kFaultyVfs;
  vfs.szOsFile = static_cast<int>(sizeof(faulty::File)) + faulty::real_vfs()->szOsFile;
  vfs.pNext = nullptr;
  vfs.xOpen = faulty::open;
  sqlite3_vfs_register(&vfs, 0);
}

}  // namespace jobd::store::testing
