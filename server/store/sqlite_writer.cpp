// SqliteStore's writer thread (see sqlite_store.hpp): gathers what the loop handed over, commits
// it as one transaction, reports the batch to the loop, and keeps the WAL short. The loop's half
// (write, hand-over, waiters, idle) is in sqlite_store.cpp.
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "store/sqlite_store.hpp"

namespace jobd::store {

using std::chrono::steady_clock;

// The writer checkpoints the WAL into the database file itself, once the WAL holds this many
// pages (32 MiB of 4 KiB pages), and only after it posted the batch's completion: SQLite's
// automatic checkpoint would run inside COMMIT, so the batch that happened to cross the limit
// would wait for it (and, at synchronous=NORMAL, for its two fsyncs) before being acknowledged.
// Measured with bench/micro/store_commit (150,000 jobs, 64 clients, process durability): p99
// commit 300-540 us with this (limits 1000 to 16000 pages), 3.9-7.2 ms with SQLite's automatic
// checkpoint at 1000 pages; larger limits mean fewer checkpoints (each one fsyncs twice) but a
// longer WAL to read at start-up.
constexpr int kCheckpointFrames = 8000;

// At synchronous=NORMAL (process durability) nothing syncs the WAL but the checkpoint, whose
// fsync then waits for every page written since the last one: 32 MiB, 30-70 ms on this VM's
// disk, during which no batch commits (that was the process p99, above machine's, whose commits
// sync as they go). The writer starts the write-back of the WAL each time this many more frames
// piled up (sync_file_range: asynchronous, no durability promise), so that the checkpoint's
// fsync finds little left to write.
constexpr int kWritebackFrames = 256;

void SqliteStore::run_writer() {
  pthread_setname_np(pthread_self(), "jobd-store");
  ChangeBuffer taken_changes;      // what the batch holds, as the loop wrote it
  std::vector<ChangeRef> batch;    // the same, decoded and folded: views into taken_changes
  Ticket taken = 0;                // changes taken from pending_ so far: the last ticket of `batch`
  Ticket committed = 0;            // changes committed so far
  std::uint64_t max_inserted = 0;  // the highest seq inserted by the changes taken
  std::uint64_t max_removed = 0;   // the highest seq removed by them (before folding)
  std::size_t last_taken = 0;      // changes the previous gathering took (gathering_after)
  auto backoff = options_.retry_initial;
  bool failing = false;
  for (;;) {
    // A backup in progress copies a step per turn, between commits (sqlite_backup.cpp).
    if (backup_) step_backup();
    bool stopping = false;
    bool begin = false;  // a backup was asked for: begun before this turn's commit
    GatheringEnd gathered = GatheringEnd::none;
    {
      std::unique_lock lock(mutex_);
      begin = std::exchange(backup_asked_, false);
      if (stopping_ && (begin || backup_)) {
        lock.unlock();
        if (backup_) abandon_backup("jobd is stopping");
        if (begin) post_backup({BackupResult::Error::failed, "jobd is stopping"});
        continue;
      }
      if (!failing) {
        while (pending_.empty() && evicted_.size() < kEvictFlush && !stopping_ && !backup_asked_ &&
               !backup_ && !begin) {
          writer_sleeping_ = true;
          need_.store(1, std::memory_order_relaxed);
          wake_.wait(lock);
        }
        writer_sleeping_ = false;
        need_.store(kNever, std::memory_order_relaxed);
        if (pending_.empty() && evicted_.size() < kEvictFlush && !stopping_) {
          // Only a backup to see to: begun now, copied from the next turn on.
          lock.unlock();
          if (begin) begin_backup();
          continue;
        }
        // Stopping, and everything is committed (the evictions too: see take_evictions).
        if (pending_.empty() && evicted_.empty() && deferred_.empty()) return;
        gathered = gather(lock, last_taken);
        loop_went_idle_ = false;
        last_taken = pending_changes_ + evicted_.size();
        taken_changes.swap(pending_);  // the loop fills the emptied buffer, capacity kept
      } else {  // a retry (of a batch that may have folded to nothing) takes on what arrived since
        taken_changes.append(pending_);
        pending_.clear();
      }
      taken = pending_through_;  // changes folded by write() took their tickets all the same
      pending_changes_ = 0;
      deferred_.insert(deferred_.end(), evicted_.begin(), evicted_.end());
      evicted_.clear();
      stopping = stopping_;
    }
    if (begin) begin_backup();
    // A retry decodes and folds the kept changes again, together with the new ones: the batch is
    // one transaction, so folding all of them commits what folding the new ones onto the folded
    // rest would.
    batch.clear();
    taken_changes.decode(batch);
    for (std::size_t i = 0; i < batch.size(); ++i)
      if (batch[i].op == ChangeOp::insert)
        max_inserted = std::max(max_inserted, batch[i].row.seq);
      else if (batch[i].op == ChangeOp::remove)
        max_removed = std::max(max_removed, batch[i].row.seq);
    coalescer_.coalesce(batch);
    take_evictions(stopping);
    if (!flushing_.empty()) max_removed = std::max(max_removed, flushing_.back());

    const auto started = steady_clock::now();
    std::string error = commit(batch, std::max(max_inserted, max_removed), max_removed);
    if (error.empty()) {
      const CommitReport report{
          taken - committed,
          std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - started), gathered};
      // A commit of evictions alone settles no ticket: it is not a batch anyone waits for.
      if (taken != committed || failing) {
        post_committed(taken, report, failing);
      }
      committed = taken;
      batch.clear();
      taken_changes.clear();
      flushing_.clear();
      failing = false;
      backoff = options_.retry_initial;
      checkpoint_if_due();
      continue;
    }
    failing = true;
    std::string reason = path_ + ": commit failed, retrying: " + error;
    post_failed(std::move(reason));
    if (!wait_before_retry(backoff)) {
      close_error_ = path_ + ": closed with " + std::to_string(taken - committed) +
                     " changes not committed (never acknowledged): " + error;
      return;
    }
    backoff = std::min(backoff * 2, options_.retry_max);
  }
}

// With the lock held and something to commit: waits for company for what is pending, unless
// there is enough already, the loop went idle since it handed the changes over (loop_idle()),
// or jobd stops. Returns what ended the gathering. Evictions count as changes here, as when each
// was a remove in the batch: the load signal (gathering_after) and the gathering's target stay
// what they were tuned on.
GatheringEnd SqliteStore::gather(std::unique_lock<std::mutex>& lock, std::size_t last_taken) {
  Gathering gathering = gathering_after(last_taken);
  if (options_.gather_window.count() != 0) gathering.window = options_.gather_window;
  const auto enough = [&] { return pending_changes_ + evicted_.size() >= gathering.changes; };
  if (pending_.empty() || enough() || stopping_) return GatheringEnd::none;
  if (loop_went_idle_ && ends_at_idle(gathering.busy)) return GatheringEnd::loop_idle;
  gather_target_ = gathering.changes;  // hand_over() wakes us once they are there, loop_idle() sooner
  gather_busy_ = gathering.busy;
  need_.store(gathering.changes - pending_changes_ - evicted_.size(), std::memory_order_relaxed);
  const bool woken =
      wake_.wait_for(lock, gathering.window, [&] { return enough() || gather_cut_ || stopping_; });
  GatheringEnd end = GatheringEnd::count;
  if (!woken)
    end = GatheringEnd::window;
  else if (gather_cut_)
    end = GatheringEnd::loop_idle;
  else if (!enough())
    end = GatheringEnd::none;  // stopping
  gather_target_ = 0;
  gather_cut_ = false;
  need_.store(kNever, std::memory_order_relaxed);
  return end;
}

// Moves the deferred evictions into the commit being prepared once kEvictFlush piled up, or all
// of them when stopping; sorted, so that runs of consecutive seqs are one range delete each.
// Not while an earlier flush is still to be committed (a retry): that one goes first.
void SqliteStore::take_evictions(bool stopping) {
  if (!flushing_.empty() || deferred_.empty()) return;
  if (deferred_.size() < kEvictFlush && !stopping) return;
  flushing_.swap(deferred_);
  std::sort(flushing_.begin(), flushing_.end());
}

// A failed checkpoint (a full disk) loses nothing: the WAL keeps the pages, and the next commit
// tries again; if the disk stays full, the next commit fails loudly by itself.
void SqliteStore::checkpoint_if_due() {
  if (options_.durability == Durability::process) start_wal_writeback();
  if (wal_frames_ < kCheckpointFrames) return;
  if (sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) == SQLITE_OK)
    wal_frames_ = 0;
}

// See kWritebackFrames. Best effort: without the descriptor the checkpoint just syncs it all.
void SqliteStore::start_wal_writeback() {
  if (wal_frames_ < wal_written_back_) wal_written_back_ = 0;  // the WAL started over
  if (wal_frames_ < wal_written_back_ + kWritebackFrames) return;
  if (wal_fd_ < 0) wal_fd_ = ::open((path_ + "-wal").c_str(), O_RDONLY | O_CLOEXEC);
  if (wal_fd_ >= 0) ::sync_file_range(wal_fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
  wal_written_back_ = wal_frames_;
}

// Sleeps `backoff` before the next attempt; false when close() is waiting and its time is up.
bool SqliteStore::wait_before_retry(std::chrono::milliseconds backoff) {
  const auto started = steady_clock::now();
  std::unique_lock lock(mutex_);
  for (;;) {
    const auto now = steady_clock::now();
    if (stopping_ && now >= close_deadline_) return false;
    auto until = started + backoff;
    if (stopping_) until = std::min(until, close_deadline_);
    if (now >= until) return true;
    wake_.wait_until(lock, until);
  }
}

// The high-water mark of seqs ever inserted is max(store_meta's max_seq, the newest row): it
// needs writing only when a row above the stored mark is removed (then the newest row might be
// gone). Eviction removes old jobs, so that is about once per --max-jobs jobs, not per commit:
// a commit then writes the jobs' pages alone, not store_meta's page as well.
std::string SqliteStore::commit(const std::vector<ChangeRef>& batch, std::uint64_t high,
                                std::uint64_t max_removed) {
  // A failed ROLLBACK may leave a transaction open: end it before starting the next one.
  if (db_.in_transaction()) db_.exec("ROLLBACK");
  if (jobs_.begin() != SQLITE_DONE) return db_.error();
  int rc = jobs_.apply(batch);
  if (rc == SQLITE_DONE) rc = jobs_.remove_sorted(flushing_);
  const bool raise = max_removed > max_seq_;
  if (rc == SQLITE_DONE && raise) rc = jobs_.raise_max_seq(high);
  if (rc == SQLITE_DONE && jobs_.commit() == SQLITE_DONE) {
    if (raise) max_seq_ = std::max(max_seq_, high);
    return {};
  }
  std::string error = db_.error();  // before ROLLBACK replaces it
  // SQLite may have rolled back by itself (SQLITE_FULL, SQLITE_IOERR); if not, we do.
  if (db_.in_transaction()) db_.exec("ROLLBACK");
  return error;
}

}  // namespace jobd::store
