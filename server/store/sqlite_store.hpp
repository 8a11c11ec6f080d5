// SqliteStore: the embedded durable store (`--store sqlite:PATH`), one file in WAL mode.
//
// Owns the file (StoreLock + SQLite's exclusive locking mode), one connection, and one writer
// thread: the only thread that calls SQLite once start-up is over. The loop thread copies
// changes into a loop-local ChangeBuffer (evictions into a list of seqs) and hands both over once per loop
// turn (one posted flush, armed by the first change after the last one), or at once when the
// change is one the writer waits for (it sleeps, or its gathering is one change short): one lock
// and at most one wake-up per hand-off, not per change. The writer takes
// everything that piled up during its previous commit and commits it as one transaction (group
// commit), then posts one completion per batch to the loop, which calls the durable listener
// (the job table's walk of what the batch settled) and runs the when_durable callbacks up to
// the batch's last ticket. The writer stops gathering when the loop has nothing left to run
// (loop_idle()). The loop never waits for the disk.
//
// A failed commit (a full disk, an I/O error) is rolled back and kept: health() turns failing
// with the reason, the observer hears it, and the writer retries the same changes (plus any that
// arrived since) with backoff until a commit succeeds, then reports healthy again. Nothing is
// acknowledged before its COMMIT returned, and nothing acknowledged is ever dropped.
//
// Must never: call SQLite on the loop after load(), block the loop on the disk, or run a
// callback anywhere but on the loop.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/change_batch.hpp"
#include "store/change_buffer.hpp"
#include "store/job_store.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_jobs.hpp"
#include "store/store_lock.hpp"

namespace jobd::store {

class SqliteStore final : public JobStore {
 public:
  // Start-up: locks, opens, checks and migrates `path`. The writer thread starts with the first
  // write(), so opening and loading run no thread (jobd may still fork after them).
  static OpenedStore open(const std::string& path, const StoreOptions& options,
                          boost::asio::any_io_executor loop);
  ~SqliteStore() override;

  bool durable() const noexcept override { return true; }
  LoadResult load(const RowVisitor& visit) override;
  using JobStore::write;
  Ticket write(ChangeOp op, const RowRef& row) override;
  void evict(std::uint64_t seq) override;
  void when_durable(Ticket ticket, std::function<void()> done) override;
  void loop_idle() override;
  void set_durable_listener(std::function<void(Ticket through)> listener) override;
  StoreHealth health() const override;
  void set_observer(StoreObserver observer) override;
  void backup(std::function<void(BackupResult)> done) override;
  StoreHealth close() override;

 private:
  struct LoopSide;  // the loop's half: waiters, health, observer (sqlite_store.cpp)
  SqliteStore(std::string path, const StoreOptions& options, boost::asio::any_io_executor loop);
  void arm_flush();
  void hand_over();  // loop: moves local_ and local_evicted_ to the writer, under the lock
  // The writer thread's half (sqlite_writer.cpp).
  void run_writer();
  GatheringEnd gather(std::unique_lock<std::mutex>& lock, std::size_t last_taken);
  void post_committed(Ticket through, CommitReport report, bool recovered);  // to the loop
  void post_failed(std::string reason);                                      // to the loop
  std::string commit(const std::vector<ChangeRef>& batch, std::uint64_t high, std::uint64_t max_removed);
  void take_evictions(bool stopping);
  bool wait_before_retry(std::chrono::milliseconds backoff);
  void checkpoint_if_due();
  bool ends_at_idle(bool busy) const;  // whether the loop's idle ends a gathering of this kind
  // The writer's half of backup() (sqlite_backup.cpp): opens the copy, copies it a step at a time
  // between commits, and ends it (written, or failed and removed).
  struct BackupRun {
    std::string path;                 // the copy's name once whole
    std::string partial;              // what it is written as until then
    sqlite3* copy = nullptr;          // the copy's own connection
    sqlite3_backup* steps = nullptr;  // SQLite's online backup, from db_ into `copy`
    std::chrono::steady_clock::time_point started;
  };
  void begin_backup();
  void step_backup();
  bool changes_waiting();
  void abandon_backup(std::string why);
  void post_backup_failure(const std::string& partial, std::string why,
                           std::chrono::steady_clock::time_point started);
  void finish_backup(const std::string& path, const std::string& partial,
                     std::chrono::steady_clock::time_point started);  // backup_finisher_
  void post_backup(BackupResult result);                              // to the loop
  void start_wal_writeback();

  // Evictions (evict()) are deleted once this many piled up, in one commit, as range deletes of
  // consecutive seqs: an eviction per job then costs the writer a share of one statement and of
  // the freed pages' frames, rather than a statement and frames in every commit
  // (bench/RESULTS.md, branch w-evict). The loop wakes a sleeping writer for them only at this
  // count. Until then the rows stay in the file as the finished jobs they were, which start-up
  // evicts again (DESIGN, the store seam): a kill -9 can bring back no job that the limits and
  // retention would keep out.
  static constexpr std::size_t kEvictFlush = 1024;

  const std::string path_;
  const StoreOptions options_;
  boost::asio::any_io_executor loop_;
  StoreLock lock_;
  Database db_;  // the writer thread's alone once it runs
  JobsTable jobs_;
  BatchCoalescer coalescer_;   // writer
  std::uint64_t max_seq_ = 0;  // writer: store_meta's max_seq as committed (see commit())
  int wal_frames_ = 0;         // writer: the WAL's length after the last commit (sqlite3_wal_hook)
  int wal_written_back_ = 0;   // writer: wal_frames_ when the WAL's write-back was last started
  int wal_fd_ = -1;            // writer: the WAL, opened for start_wal_writeback() alone
  // Writer: evicted seqs taken from evicted_, not yet deleted; and those the current commit
  // deletes (kept, like the batch, until a commit succeeds).
  std::vector<std::uint64_t> deferred_;
  std::vector<std::uint64_t> flushing_;
  std::unique_ptr<BackupRun> backup_;  // writer: the backup being written
  std::thread backup_finisher_;        // writer (joined by it, or by close() after it)

  // Shared with completions posted to the loop, which may outlive the store in a stopped loop.
  std::shared_ptr<LoopSide> loop_side_;
  Ticket last_ticket_ = 0;  // loop: tickets handed out
  // Loop: what write() and evict() gathered since the last flush(), and whether one is posted.
  // local_changes_ counts changes written (folded ones too), as pending_changes_ does.
  ChangeBuffer local_;
  std::size_t local_changes_ = 0;
  std::vector<std::uint64_t> local_evicted_;
  bool flush_armed_ = false;
  // How many more changes would wake the writer (1 while it sleeps, what its gathering still
  // waits for), or kNever while it commits: set under mutex_ by both sides, read by write()
  // without it, as a hint to hand over at once rather than at the turn's end (a stale value
  // only moves the hand-off; hand_over() decides under the lock).
  static constexpr std::size_t kNever = static_cast<std::size_t>(-1);
  std::atomic<std::size_t> need_{kNever};

  // The hand-off, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable wake_;
  ChangeBuffer pending_;
  // The last ticket written, and how many changes pending_ holds: fewer entries when write()
  // folded some, but the gathering counts changes, as it was tuned on (change_batch.hpp).
  Ticket pending_through_ = 0;
  std::size_t pending_changes_ = 0;
  std::vector<std::uint64_t> evicted_;  // evict()'s seqs, for the writer to delete later
  bool writer_sleeping_ = false;
  std::size_t gather_target_ = 0;  // while the writer gathers: wake it once pending_ holds this many
  bool gather_busy_ = false;       // while the writer gathers: whether gathering_after() saw load
  bool gather_cut_ = false;        // loop_idle() ended the gathering: commit what is there
  // The loop went idle with changes in pending_ that no gathering held yet, and has handed over
  // none since: the writer commits them without gathering (when ends_at_idle allows).
  bool loop_went_idle_ = false;
  bool stopping_ = false;
  bool backup_asked_ = false;  // backup() asked, the writer has not begun it yet
  std::chrono::steady_clock::time_point close_deadline_;
  std::string close_error_;  // writer: set when it gave up at close
  std::thread writer_;
  bool closed_ = false;
};

}  // namespace jobd::store
