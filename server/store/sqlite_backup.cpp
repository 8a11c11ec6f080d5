// SqliteStore's online backup (JobStore::backup): the loop asks, the writer thread copies the
// database with SQLite's backup API a step at a time between its commits, so that jobs go on
// being acknowledged while the copy is written. Changes the writer commits during the copy are
// carried into it by SQLite (the same connection writes both), so the finished copy holds every
// change committed before its last step: each job acknowledged before the backup ends.
// The copy is written as NAME.partial, synced, then renamed: a jobd-backup-*.db in the directory
// is always whole, and a jobd started on it (or on a copy of it) serves those jobs.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <vector>

#include "store/sqlite_store.hpp"

namespace jobd::store {

namespace {

namespace fs = std::filesystem;
using std::chrono::steady_clock;
using std::chrono::system_clock;

// A writer turn copies steps of kStepPages (256 KiB of 4 KiB pages) until changes wait to be
// committed or kTurnBudget has passed: a commit waits behind at most one step, well under a
// millisecond, and an idle writer copies in long runs. One step of 1,024 pages between commits
// took 4 MiB a turn and held each commit ~20 ms: echo jobs at 50 clients dropped to 71 % of
// their rate while a backup ran (bench/RESULTS.md, stop 40).
constexpr int kStepPages = 64;
constexpr auto kTurnBudget = std::chrono::milliseconds(5);
constexpr std::string_view kPrefix = "jobd-backup-";
constexpr std::string_view kSuffix = ".db";

// jobd-backup-20261201T222300.123Z.db: names sort by time, as rotation needs.
std::string copy_name(system_clock::time_point now) {
  const std::time_t seconds = system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &utc);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char name[64];
  std::snprintf(name, sizeof name, "%.*s%s.%03dZ%.*s", static_cast<int>(kPrefix.size()), kPrefix.data(),
                stamp, static_cast<int>(millis), static_cast<int>(kSuffix.size()), kSuffix.data());
  return name;
}

bool is_copy(const std::string& name) {
  return name.size() > kPrefix.size() + kSuffix.size() && name.starts_with(kPrefix) &&
         name.ends_with(kSuffix);
}

// fsync of a file or a directory; errno's text when it fails.
std::string sync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  return rc == 0 ? std::string{} : std::strerror(saved);
}

}  // namespace

// Writer. Opens the copy and SQLite's backup into it; ends the backup at once if it cannot.
void SqliteStore::begin_backup() {
  if (backup_finisher_.joinable()) backup_finisher_.join();  // the last one posted its result
  auto run = std::make_unique<BackupRun>();
  run->started = steady_clock::now();
  const fs::path dir(options_.backup_dir);
  std::string name = copy_name(system_clock::now());
  // Two backups within a millisecond (a tiny store): the second waits for the next name.
  std::error_code ignored;
  while (fs::exists(dir / name, ignored)) name = copy_name(system_clock::now());
  run->path = (dir / name).string();
  run->partial = run->path + ".partial";
  backup_ = std::move(run);
  BackupRun& b = *backup_;
  fs::remove(b.partial, ignored);
  if (sqlite3_open_v2(b.partial.c_str(), &b.copy, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    abandon_backup("cannot create " + b.partial + ": " + (b.copy ? sqlite3_errmsg(b.copy) : "out of memory"));
    return;
  }
  // The copy needs no journal and no sync per step: it is thrown away unless it is whole, and
  // synced once, before it is renamed.
  sqlite3_exec(b.copy, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF", nullptr, nullptr, nullptr);
  b.steps = sqlite3_backup_init(b.copy, "main", db_.get(), "main");
  if (b.steps == nullptr) abandon_backup(b.partial + ": " + sqlite3_errmsg(b.copy));
}

// Whether changes wait to be committed (the writer's turn should end).
bool SqliteStore::changes_waiting() {
  std::lock_guard lock(mutex_);
  return !pending_.empty() || stopping_;
}

// Writer, between commits: copies steps of the store until changes wait or the turn's budget is
// spent; once all is copied, closes the copy and hands the rest (sync, rename, rotation) to a
// thread of its own, so that a commit never waits for the fsync of the whole copy.
void SqliteStore::step_backup() {
  BackupRun& b = *backup_;
  const auto until = steady_clock::now() + kTurnBudget;
  int rc = SQLITE_OK;
  do {
    rc = sqlite3_backup_step(b.steps, kStepPages);
  } while (rc == SQLITE_OK && steady_clock::now() < until && !changes_waiting());
  if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return;  // more to copy
  const int finished = sqlite3_backup_finish(b.steps);
  b.steps = nullptr;
  if (rc != SQLITE_DONE || finished != SQLITE_OK) {
    abandon_backup(b.partial + ": " + sqlite3_errstr(rc != SQLITE_DONE ? rc : finished));
    return;
  }
  const int closed = sqlite3_close(b.copy);
  b.copy = nullptr;
  if (closed != SQLITE_OK) {
    abandon_backup(b.partial + ": " + sqlite3_errstr(closed));
    return;
  }
  // The copy is closed: nothing of it is the writer's any more. The finisher ends the backup
  // (and posts its result); the writer only joins it (next backup, close()).
  backup_finisher_ = std::thread([this, path = b.path, partial = b.partial, started = b.started] {
    finish_backup(path, partial, started);
  });
  backup_.reset();
}

// The finisher thread: makes the closed copy whole (synced, renamed, its directory synced),
// deletes the oldest copies beyond backup_keep, and posts the result.
void SqliteStore::finish_backup(const std::string& path, const std::string& partial,
                                std::chrono::steady_clock::time_point started) {
  if (auto why = sync_path(partial, false); !why.empty())
    return post_backup_failure(partial, "cannot sync " + partial + ": " + why, started);
  if (std::rename(partial.c_str(), path.c_str()) != 0)
    return post_backup_failure(partial, "cannot rename " + partial + ": " + std::strerror(errno), started);
  BackupResult result{.path = path};
  std::error_code error;
  result.bytes = fs::file_size(path, error);
  // The rename is durable once the directory is; a failure here leaves a whole copy that a
  // power loss might undo, which is worth a line in the result, not a failure.
  if (auto why = sync_path(options_.backup_dir, true); !why.empty())
    result.detail = "cannot sync " + options_.backup_dir + ": " + why;
  // Rotation: names sort by time; only complete copies count, and only ours.
  std::vector<fs::path> copies;
  for (const auto& entry : fs::directory_iterator(options_.backup_dir, error))
    if (is_copy(entry.path().filename().string())) copies.push_back(entry.path());
  std::sort(copies.begin(), copies.end());
  const std::size_t keep = std::max<std::size_t>(options_.backup_keep, 1);
  for (std::size_t i = 0; i + keep < copies.size(); ++i) fs::remove(copies[i], error);
  result.took = std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - started);
  post_backup(std::move(result));
}

// Writer: gives the backup up, releasing what it holds, and reports why.
void SqliteStore::abandon_backup(std::string why) {
  BackupRun& b = *backup_;
  if (b.steps != nullptr) sqlite3_backup_finish(b.steps);
  if (b.copy != nullptr) sqlite3_close(b.copy);
  post_backup_failure(b.partial, std::move(why), b.started);
  backup_.reset();
}

// Writer or finisher: a backup failed; its partial copy goes, and the loop is told.
void SqliteStore::post_backup_failure(const std::string& partial, std::string why,
                                      std::chrono::steady_clock::time_point started) {
  std::error_code ignored;
  fs::remove(partial, ignored);
  BackupResult result{BackupResult::Error::failed, std::move(why)};
  result.took = std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - started);
  post_backup(std::move(result));
}

}  // namespace jobd::store
