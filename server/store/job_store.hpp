// JobStore: where the job table sends every change to the jobs, and the durable place jobs come
// back from after a restart (DESIGN §7).
//
// Two phases, both on the thread that owns the job table:
//   start-up (before the loop runs)  open_store(uri) and load(visitor): may block, may fail
//   running (on the loop thread)     write, when_durable, health: never block, never call SQLite
// A store never touches a Job and never includes jobs/, api/, http/ or exec/: the table turns
// its transitions into Changes (job_row.hpp). `durable() == false` (memory:) tells the table to
// build no rows at all, so the memory path costs what it cost before there was a store.
//
// Failure is loud: a store that cannot commit says so through health() (for /readyz and submit
// 503s) and the observer, keeps what it could not commit and retries; it never drops a change it
// acknowledged, and never acknowledges one it did not commit.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "store/job_row.hpp"

namespace jobd::store {

// What a committed change survives (README, --durability).
enum class Durability {
  process,  // kill -9 or a crash of jobd: a commit is a write to the WAL (synchronous=NORMAL)
  machine,  // power loss too: an fsync per commit (synchronous=FULL)
};

struct StoreHealth {
  bool ok = true;
  std::string reason;  // one line when !ok: "jobd.db: commit failed, retrying: database or disk is full (13)"
};

// What ended the writer's gathering before a commit (group commit: its wait for more changes).
enum class GatheringEnd : std::uint8_t {
  none,       // it did not gather: enough changes were waiting, or a retry, or close()
  count,      // the changes it waited for arrived
  loop_idle,  // the loop had nothing left to run (JobStore::loop_idle)
  window,     // its time ran out
};

// One committed batch, for the commit batch-size and latency histograms.
struct CommitReport {
  std::size_t changes = 0;
  std::chrono::microseconds latency{0};  // BEGIN to the end of COMMIT, on the writer thread
  GatheringEnd gathering = GatheringEnd::none;
};

// What JobStore::backup did. A copy is written whole or not at all: on any error nothing is left
// in the backup directory but the earlier copies.
struct BackupResult {
  enum class Error : std::uint8_t {
    none,         // written: `path`
    unavailable,  // this store has no file to copy, or no backup directory was given
    busy,         // another backup is running
    failed,       // the copy could not be written (`detail` says why)
  };
  Error error = Error::none;
  std::string detail;  // one line when error != none
  std::string path;    // the copy: backup_dir/jobd-backup-<UTC time>.db
  std::uint64_t bytes = 0;
  std::chrono::milliseconds took{0};
};

// Called on the loop thread; any may be empty. Feeds metrics and logs; must not block.
struct StoreObserver {
  std::function<void(const CommitReport&)> committed;   // once per committed batch
  std::function<void(std::string_view reason)> failed;  // once per failed commit attempt
  std::function<void()> recovered;                      // the first commit after failures
  std::function<void(const BackupResult&)> backed_up;   // once per backup() that ran (not busy)
};

struct StoreOptions {
  Durability durability = Durability::process;
  // Retry after a failed commit: starts here, doubles, and stays at the maximum.
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_max{1000};
  // close() gives up on changes it cannot commit after this long (they were never acknowledged).
  std::chrono::milliseconds close_timeout{10000};
  std::string vfs;  // SQLite VFS name; empty: the default one (tests register a faulty one)
  // jobd may use more than one CPU: a group commit under load ends as soon as the loop goes idle
  // too, its commit running beside the loop (SqliteStore::loop_idle).
  bool writer_has_own_cpu = false;
  // Tests: every gathering waits up to this long (0: change_batch.hpp's windows).
  std::chrono::microseconds gather_window{0};
  // backup(): where copies go (empty: backups are off), and how many of them are kept there
  // (the oldest beyond this are deleted once a new one is written).
  std::string backup_dir;
  std::size_t backup_keep = 3;
};

struct LoadResult {
  std::uint64_t rows = 0;
  std::uint64_t max_seq = 0;  // the highest seq ever inserted, even if its row was removed since
  std::string error;          // empty: every row was read; else one line (corrupt file, bad row)
};

// A row as load() hands it over; the visitor may move from it.
using RowVisitor = std::function<void(JobRow& row)>;

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Whether changes are kept anywhere at all; false: the table builds no rows.
  virtual bool durable() const noexcept = 0;

  // Start-up only, before the loop runs: hands every stored row to `visit` in seq order,
  // streaming (one row in memory at a time, JSON left as text). The table continues seqs after
  // max_seq, so a removed newest job's seq is never handed out twice.
  virtual LoadResult load(const RowVisitor& visit) = 0;

  // Loop thread. Queues a change; cheap (SqliteStore: its fields copied into a loop-local
  // buffer, handed to the writer once per loop turn). `row` is read before this returns.
  // Tickets increase by one per change.
  virtual Ticket write(ChangeOp op, const RowRef& row) = 0;
  // The same, for a change held as values.
  Ticket write(const Change& change) { return write(change.op, ref_of(change.row)); }
  // Loop thread. Removes the row of a finished job the table evicted (retention, the limits),
  // possibly later, together with other evictions (SqliteStore defers them and deletes them in
  // ranges; this default removes at once). Only for a job whose final state is committed: until
  // its delete commits, the row reads back as that finished job, which start-up evicts again by
  // the same rules (DESIGN, the store seam). No ticket: nothing waits for an eviction, and a
  // job that never became final (JobTable::discard) is removed with write(), never with this.
  virtual void evict(std::uint64_t seq) {
    RowRef row;
    row.seq = seq;
    write(ChangeOp::remove, row);
  }
  // Loop thread. Runs `done` on the loop once every change up to `ticket` is committed, at once
  // (before returning) when it already is. Callbacks run in ticket order.
  virtual void when_durable(Ticket ticket, std::function<void()> done) = 0;
  // Before the loop runs. `listener` runs on the loop once per committed batch, with the batch's
  // last ticket, before that batch's when_durable callbacks: the job table's own waits (a
  // pending insert or final per change) cost one call per batch, not a callback per change.
  virtual void set_durable_listener(std::function<void(Ticket through)> listener) = 0;
  // Loop thread, each time the loop has run everything that was ready and is about to wait for
  // the next event. A store that gathers a batch for its writer commits it now: with the loop
  // idle, no more changes are coming until some client hears back (a closed loop of clients,
  // each waiting for its own job's commit).
  virtual void loop_idle() {}
  // Loop thread. Writes a consistent copy of the store (every change committed before it ends)
  // to StoreOptions::backup_dir while jobs go on, and runs `done` on the loop with the outcome
  // (possibly at once, before returning). This default: unavailable (nothing to copy).
  virtual void backup(std::function<void(BackupResult)> done);
  // Loop thread.
  virtual StoreHealth health() const = 0;
  // Before the loop runs, or on it.
  virtual void set_observer(StoreObserver observer) = 0;

  // After the loop stopped: commits what is queued (retrying for at most close_timeout), stops
  // the writer, releases the file. Idempotent. ok: every written change is committed.
  virtual StoreHealth close() = 0;
};

// The outcome of open_store: a store, or one line saying why there is none.
struct OpenedStore {
  std::unique_ptr<JobStore> store;
  std::string error;
};

// Start-up only. `uri`: "memory:" or "sqlite:PATH". `loop` is where completions run. Refuses,
// with one line, an unknown scheme, a file another jobd holds (naming its pid), a file that is
// not SQLite or belongs to another application, and a schema newer than this binary knows.
OpenedStore open_store(std::string_view uri, const StoreOptions& options, boost::asio::any_io_executor loop);

}  // namespace jobd::store
