#include "store/sqlite_store.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <deque>
#include <utility>

#include "store/sqlite_schema.hpp"

namespace jobd::store {

namespace asio = boost::asio;
using std::chrono::steady_clock;

// What the loop knows of the store. Touched only on the loop thread: by the store's loop-side
// methods and by the completions the writer posts, which hold it by shared_ptr so that one
// still queued in a stopped loop never reaches a destroyed store.
struct SqliteStore::LoopSide {
  SqliteStore* store = nullptr;  // cleared by close(): a flush still posted then does nothing
  Ticket durable_through = 0;
  StoreHealth health;
  StoreObserver observer;
  std::function<void(Ticket)> durable_listener;
  std::deque<std::pair<Ticket, std::function<void()>>> waiters;  // by ticket, then by arrival

  void committed(Ticket through, CommitReport report, bool recovered) {
    durable_through = through;
    if (recovered) {
      health = {};
      if (observer.recovered) observer.recovered();
    }
    if (observer.committed) observer.committed(report);
    if (durable_listener) durable_listener(through);
    // Pop before running: a callback may call when_durable (or write) again.
    while (!waiters.empty() && waiters.front().first <= through) {
      auto done = std::move(waiters.front().second);
      waiters.pop_front();
      done();
    }
  }

  void failed(const std::string& reason) {
    health = {false, reason};
    if (observer.failed) observer.failed(reason);
  }

  void backed_up(BackupResult result) {
    auto done = std::move(backup_done);
    backup_done = nullptr;
    if (observer.backed_up) observer.backed_up(result);
    if (done) done(std::move(result));
  }
  std::function<void(BackupResult)> backup_done;  // the backup() being written, if any
};

SqliteStore::SqliteStore(std::string path, const StoreOptions& options, asio::any_io_executor loop)
    : path_(std::move(path)),
      options_(options),
      loop_(std::move(loop)),
      loop_side_(std::make_shared<LoopSide>()) {
  loop_side_->store = this;
}

SqliteStore::~SqliteStore() { close(); }

OpenedStore SqliteStore::open(const std::string& path, const StoreOptions& options,
                              asio::any_io_executor loop) {
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, options, std::move(loop)));
  if (auto why = store->lock_.acquire(path); !why.empty()) return {nullptr, why};
  if (auto why = open_database(store->db_, path, options); !why.empty()) return {nullptr, why};
  if (auto why = store->jobs_.prepare(store->db_); !why.empty()) return {nullptr, path + ": " + why};
  const auto max_seq = store->db_.query_int("SELECT value FROM store_meta WHERE key = 'max_seq'");
  if (!max_seq) return {nullptr, path + ": cannot read the seq high-water mark: " + store->db_.error()};
  store->max_seq_ = static_cast<std::uint64_t>(*max_seq);
  // Replaces SQLite's automatic checkpoint (itself a WAL hook): see kCheckpointFrames.
  sqlite3_wal_hook(
      store->db_.get(),
      [](void* frames, sqlite3*, const char*, int wal_frames) {
        *static_cast<int*>(frames) = wal_frames;
        return SQLITE_OK;
      },
      &store->wal_frames_);
  return {std::move(store), {}};
}

LoadResult SqliteStore::load(const RowVisitor& visit) {
  if (writer_.joinable() || closed_) return {.error = "load() is for start-up, before the first write"};
  LoadResult result = jobs_.load(db_, visit);
  if (!result.error.empty()) result.error = path_ + ": " + result.error;
  return result;
}

Ticket SqliteStore::write(ChangeOp op, const RowRef& row) {
  if (closed_) return ++last_ticket_;  // after close nothing is written, nor acknowledged
  if (!writer_.joinable()) writer_ = std::thread([this] { run_writer(); });
  // The buffer folds an update into the change it follows when that is the same job's (a loop
  // job's start, written right after its insert): one change less to hand over.
  local_.append(op, row);
  ++local_changes_;
  ++last_ticket_;
  // The writer waits for this one (it sleeps, or it gathers and this completes its count):
  // handed over now, as each change was before, so that the batch is not late by a turn.
  if (local_changes_ >= need_.load(std::memory_order_relaxed))
    hand_over();
  else
    arm_flush();
  return last_ticket_;
}

void SqliteStore::evict(std::uint64_t seq) {
  if (closed_) return;
  local_evicted_.push_back(seq);
  arm_flush();
}

// Posted behind whatever the loop has ready now: the flush runs once this turn's handlers did,
// so a turn's changes the writer is not waiting for cost one lock and at most one wake-up. The completion
// holds LoopSide, not the store: one still queued in a stopped loop finds `store` cleared by close().
void SqliteStore::arm_flush() {
  if (std::exchange(flush_armed_, true)) return;
  asio::post(loop_, [side = loop_side_] {
    if (side->store == nullptr) return;
    side->store->flush_armed_ = false;
    side->store->hand_over();
  });
}

void SqliteStore::hand_over() {
  if (local_changes_ == 0 && local_evicted_.empty()) return;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (pending_.empty()) {
      pending_.swap(local_);  // local_ takes the emptied buffer the writer left, capacity kept
    } else {
      pending_.append(local_);
      local_.clear();
    }
    evicted_.insert(evicted_.end(), local_evicted_.begin(), local_evicted_.end());
    if (local_changes_ != 0) {
      loop_went_idle_ = false;          // the loop is busy again: the gathering may wait for more
      pending_through_ = last_ticket_;  // every ticket handed out is in pending_ now
      pending_changes_ += local_changes_;
      wake = std::exchange(writer_sleeping_, false);
    } else {
      // Evictions alone wake a sleeping writer only at kEvictFlush, and only a running one:
      // before the first write() (start-up evicting what the limits no longer keep) they wait
      // for it, or for close().
      wake = evicted_.size() >= kEvictFlush && writer_.joinable() && std::exchange(writer_sleeping_, false);
    }
    // Evictions count towards a gathering: see run_writer.
    if (gather_target_ != 0 && pending_changes_ + evicted_.size() >= gather_target_) {
      gather_target_ = 0;  // one wake-up per gathering
      wake = true;
    }
    if (gather_target_ != 0)
      need_.store(gather_target_ - pending_changes_ - evicted_.size(), std::memory_order_relaxed);
    else if (wake)
      need_.store(kNever, std::memory_order_relaxed);
  }
  local_changes_ = 0;
  local_evicted_.clear();
  // Outside the lock, so that the writer does not wake into a held mutex.
  if (wake) wake_.notify_one();
}

void SqliteStore::when_durable(Ticket ticket, std::function<void()> done) {
  LoopSide& side = *loop_side_;
  if (ticket <= side.durable_through) {
    done();
    return;
  }
  auto& waiters = side.waiters;
  if (waiters.empty() || waiters.back().first <= ticket) {  // the usual case: the newest ticket
    waiters.emplace_back(ticket, std::move(done));
    return;
  }
  const auto at = std::upper_bound(waiters.begin(), waiters.end(), ticket,
                                   [](Ticket t, const auto& waiter) { return t < waiter.first; });
  waiters.emplace(at, ticket, std::move(done));
}

// A gathering waits for changes that, with the loop idle, are not coming: the clients whose jobs
// are in it wait for its commit (a closed loop of clients), or there are no more clients (light
// load), so it ends here. Under load on a single CPU it keeps its target: the writer's commit
// would take the loop's core, and a bigger batch costs less CPU per job (bench/RESULTS.md, stop
// 35). The writer may not be gathering yet (woken, not yet run, or still committing the
// previous batch): then it is told to commit what it finds without gathering.
void SqliteStore::loop_idle() {
  if (closed_ || !writer_.joinable()) return;
  hand_over();  // nothing, usually: the turn's posted flush ran before the loop went idle
  {
    std::lock_guard lock(mutex_);
    if (pending_changes_ == 0) return;
    if (gather_target_ == 0) {
      loop_went_idle_ = true;
      return;
    }
    if (!ends_at_idle(gather_busy_)) return;
    gather_target_ = 0;
    gather_cut_ = true;
    need_.store(kNever, std::memory_order_relaxed);
  }
  wake_.notify_one();
}

bool SqliteStore::ends_at_idle(bool busy) const { return !busy || options_.writer_has_own_cpu; }

StoreHealth SqliteStore::health() const { return loop_side_->health; }

void SqliteStore::set_durable_listener(std::function<void(Ticket)> listener) {
  loop_side_->durable_listener = std::move(listener);
}

void SqliteStore::set_observer(StoreObserver observer) { loop_side_->observer = std::move(observer); }

// The writer's reports, posted to the loop. They hold LoopSide, not the store: one still queued
// in a stopped loop never reaches a destroyed store.
void SqliteStore::post_committed(Ticket through, CommitReport report, bool recovered) {
  asio::post(loop_, [side = loop_side_, through, report, recovered] {
    side->committed(through, report, recovered);
  });
}

void SqliteStore::post_failed(std::string reason) {
  asio::post(loop_, [side = loop_side_, reason = std::move(reason)] { side->failed(reason); });
}

// The writer does the copying (sqlite_backup.cpp); this is the loop's half.
void SqliteStore::backup(std::function<void(BackupResult)> done) {
  // Refusals are answered at once (JobStore::backup allows it; the caller resumes by a post).
  const auto answer = [&done](BackupResult::Error error, std::string detail) {
    done(BackupResult{error, std::move(detail)});
  };
  if (options_.backup_dir.empty())
    return answer(BackupResult::Error::unavailable, "backups are off: start jobd with --backup-dir DIR");
  if (closed_) return answer(BackupResult::Error::unavailable, "jobd is stopping");
  if (loop_side_->backup_done)
    return answer(BackupResult::Error::busy, "a backup is being written; ask again once it is done");
  loop_side_->backup_done = std::move(done);
  if (!writer_.joinable()) writer_ = std::thread([this] { run_writer(); });
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    backup_asked_ = true;
    wake = std::exchange(writer_sleeping_, false);
  }
  if (wake) wake_.notify_one();
}

void SqliteStore::post_backup(BackupResult result) {
  asio::post(loop_, [side = loop_side_, result = std::move(result)]() mutable {
    side->backed_up(std::move(result));
  });
}

StoreHealth SqliteStore::close() {
  if (closed_) return {};
  hand_over();  // what this turn wrote: written, so committed like the rest (or reported not)
  closed_ = true;
  loop_side_->store = nullptr;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    close_deadline_ = steady_clock::now() + options_.close_timeout;
  }
  wake_.notify_all();
  // Evictions made with no write() since start-up still want their delete.
  if (!writer_.joinable() && !evicted_.empty()) writer_ = std::thread([this] { run_writer(); });
  if (writer_.joinable()) writer_.join();
  if (backup_finisher_.joinable()) backup_finisher_.join();  // a whole copy being synced
  if (wal_fd_ >= 0) ::close(wal_fd_);
  wal_fd_ = -1;
  jobs_ = JobsTable{};  // statements first: closing the connection then checkpoints the WAL
  db_.close();
  lock_.release();
  if (close_error_.empty()) return {};
  return {false, close_error_};
}

}  // namespace jobd::store
