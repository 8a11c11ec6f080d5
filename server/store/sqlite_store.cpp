#include "store/sqlite_store.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <deque>
#include <iterator>
#include <utility>

#include "store/sqlite_schema.hpp"

namespace jobd::store {

namespace asio = boost::asio;
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

// Evictions (evict()) are deleted once this many piled up, in one commit, as range deletes of
// consecutive seqs: an eviction per job then costs the writer a share of one statement and of
// the freed pages' frames, rather than a statement and frames in every commit (bench/RESULTS.md,
// branch w-evict). The loop wakes a sleeping writer for them only at this count. Until then the
// rows stay in the file as the finished jobs they were, which start-up evicts again (DESIGN, the
// store seam): a kill -9 can bring back no job that the limits and retention would keep out.
constexpr std::size_t kEvictFlush = 1024;

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

Ticket SqliteStore::write(Change change) {
  if (closed_) return ++last_ticket_;  // after close nothing is written, nor acknowledged
  if (!writer_.joinable()) writer_ = std::thread([this] { run_writer(); });
  // Folded here rather than by the writer's coalescer when it follows the change it folds into
  // (a loop job's start, written right after its insert): one change less to hand over.
  if (local_.empty() || !fold_update(local_.back(), change)) local_.push_back(std::move(change));
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
      pending_.swap(local_);  // local_ takes the emptied vector the writer left, capacity kept
    } else {
      pending_.insert(pending_.end(), std::make_move_iterator(local_.begin()),
                      std::make_move_iterator(local_.end()));
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
  if (wal_fd_ >= 0) ::close(wal_fd_);
  wal_fd_ = -1;
  jobs_ = JobsTable{};  // statements first: closing the connection then checkpoints the WAL
  db_.close();
  lock_.release();
  if (close_error_.empty()) return {};
  return {false, close_error_};
}

void SqliteStore::run_writer() {
  pthread_setname_np(pthread_self(), "jobd-store");
  std::vector<Change> batch;
  Ticket taken = 0;                // changes taken from pending_ so far: the last ticket of `batch`
  Ticket committed = 0;            // changes committed so far
  std::uint64_t max_inserted = 0;  // the highest seq inserted by the changes taken
  std::uint64_t max_removed = 0;   // the highest seq removed by them (before folding)
  std::size_t last_taken = 0;      // changes the previous gathering took (gathering_after)
  auto backoff = options_.retry_initial;
  bool failing = false;
  for (;;) {
    std::size_t fresh = 0;  // where the changes taken this time start in `batch`
    bool stopping = false;
    GatheringEnd gathered = GatheringEnd::none;
    {
      std::unique_lock lock(mutex_);
      if (!failing) {
        while (pending_.empty() && evicted_.size() < kEvictFlush && !stopping_) {
          writer_sleeping_ = true;
          need_.store(1, std::memory_order_relaxed);
          wake_.wait(lock);
        }
        writer_sleeping_ = false;
        need_.store(kNever, std::memory_order_relaxed);
        // Stopping, and everything is committed (the evictions too: see take_evictions).
        if (pending_.empty() && evicted_.empty() && deferred_.empty()) return;
        // Evictions count as changes here, as when each was a remove in the batch: the load
        // signal (gathering_after) and the gathering's target stay what they were tuned on.
        Gathering gather = gathering_after(last_taken);
        if (options_.gather_window.count() != 0) gather.window = options_.gather_window;
        if (!pending_.empty() && pending_changes_ + evicted_.size() < gather.changes && !stopping_) {
          if (loop_went_idle_ && ends_at_idle(gather.busy)) {
            gathered = GatheringEnd::loop_idle;
          } else {
            gather_target_ = gather.changes;  // hand_over() wakes us once they are there, loop_idle() sooner
            gather_busy_ = gather.busy;
            need_.store(gather.changes - pending_changes_ - evicted_.size(), std::memory_order_relaxed);
            const bool woken = wake_.wait_for(lock, gather.window, [this, &gather] {
              return pending_changes_ + evicted_.size() >= gather.changes || gather_cut_ || stopping_;
            });
            gathered = !woken        ? GatheringEnd::window
                       : gather_cut_ ? GatheringEnd::loop_idle
                       : stopping_ && pending_changes_ + evicted_.size() < gather.changes
                           ? GatheringEnd::none
                           : GatheringEnd::count;
            gather_target_ = 0;
            gather_cut_ = false;
            need_.store(kNever, std::memory_order_relaxed);
          }
        }
        loop_went_idle_ = false;
        last_taken = pending_changes_ + evicted_.size();
        batch.swap(pending_);  // the loop fills the emptied vector, capacity kept
      } else {  // a retry (of a batch that may have folded to nothing) takes on what arrived since
        fresh = batch.size();
        batch.insert(batch.end(), std::make_move_iterator(pending_.begin()),
                     std::make_move_iterator(pending_.end()));
        pending_.clear();
      }
      taken = pending_through_;  // changes folded by write() took their tickets all the same
      pending_changes_ = 0;
      deferred_.insert(deferred_.end(), evicted_.begin(), evicted_.end());
      evicted_.clear();
      stopping = stopping_;
    }
    for (std::size_t i = fresh; i < batch.size(); ++i)
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
        asio::post(loop_, [side = loop_side_, taken, report, recovered = failing] {
          side->committed(taken, report, recovered);
        });
      }
      committed = taken;
      batch.clear();
      flushing_.clear();
      failing = false;
      backoff = options_.retry_initial;
      checkpoint_if_due();
      continue;
    }
    failing = true;
    std::string reason = path_ + ": commit failed, retrying: " + error;
    asio::post(loop_, [side = loop_side_, reason] { side->failed(reason); });
    if (!wait_before_retry(backoff)) {
      close_error_ = path_ + ": closed with " + std::to_string(taken - committed) +
                     " changes not committed (never acknowledged): " + error;
      return;
    }
    backoff = std::min(backoff * 2, options_.retry_max);
  }
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
std::string SqliteStore::commit(const std::vector<Change>& batch, std::uint64_t high,
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
