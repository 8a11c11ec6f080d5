#include "store/change_batch.hpp"

#include <algorithm>
#include <utility>

namespace jobd::store {
namespace {

// At synchronous=NORMAL a commit is so short that without gathering the writer commits nearly
// every change alone (bench/store: p50 batch 1), spending a core on per-commit costs that a
// batch shares; the window adds at most its length to an acknowledgement.
constexpr std::chrono::microseconds kGatherWindow{200};
constexpr std::size_t kGatherChanges = 64;
// Under load a commit's cost is still mostly per batch (the writer's two context switches, the
// WAL frames of the row tree's right edge, BEGIN/COMMIT), so the writer's CPU per job falls as
// batches grow: bench/store, echo with loop and writer on one core, ~8 us per job at 200 us
// (~40 changes a batch) and ~4-6 us with this (~120). Waiting for as many changes as the
// previous batch, not the whole window, keeps a closed loop of clients (whose jobs are all in
// the batch already) from waiting for nothing; the window bounds what a sudden drop in load
// costs the first acknowledgement after it.
// Load is a previous batch of kBusyBatch changes or more: at 64 the writer often stayed in the
// 200 us window's ~40-change batches (echo at 50 connections, 3 runs each: 56-103 changes a
// batch and 6.0 us per job at 64, 66-106 and 4.9 us at 32).
// Tried and not kept (bench/RESULTS.md, branch s-loop): under load, the window counted from the
// previous commit with only the target's change waking the writer (one sleep a batch, not two).
// With loop and writer on one core the loop's round for a batch takes about the window itself,
// so the window often ended first: in two busy runs batches of 16 jobs instead of 22, the
// writer's CPU per job up by a third (11 against 8 us), and still ~1.8 sleeps a batch (counted
// from the thread's voluntary context switches). 2 ms from the commit: batches as before, 1.5
// sleeps a batch, the writer's CPU per job no lower.
constexpr std::size_t kBusyBatch = 32;
constexpr std::chrono::microseconds kGatherWindowBusy{1000};
constexpr std::size_t kGatherChangesMax = 1024;

void take_mutable(RowRef& into, const RowRef& from) {
  into.state = from.state;
  into.started_at_ms = from.started_at_ms;
  into.finished_at_ms = from.finished_at_ms;
  into.run_at_ms = from.run_at_ms;
  into.attempt = from.attempt;
  into.result_json = from.result_json;
  into.error_type = from.error_type;
  into.error_message = from.error_message;
  into.details_json = from.details_json;
  into.attempts_json = from.attempts_json;
}

}  // namespace

bool fold_update(ChangeRef& earlier, const ChangeRef& later) {
  if (later.op != ChangeOp::update || earlier.op == ChangeOp::remove || earlier.row.seq != later.row.seq)
    return false;
  take_mutable(earlier.row, later.row);
  return true;
}

void BatchCoalescer::coalesce(std::vector<ChangeRef>& batch) {
  apply_.assign(batch.size(), true);
  if (batch.empty()) return;
  // A batch's seqs are nearly always a short run (the jobs of the last few milliseconds): then
  // the live change of a seq is found in a vector indexed from the lowest seq, with no node
  // allocated per change as the hash map does (it was ~3 % of the writer's samples).
  const auto [low, high] =
      std::minmax_element(batch.begin(), batch.end(),
                          [](const ChangeRef& a, const ChangeRef& b) { return a.row.seq < b.row.seq; });
  const std::uint64_t base = low->row.seq;
  const bool dense = high->row.seq - base < 4 * batch.size() + 64;
  if (dense) {
    slots_.assign(high->row.seq - base + 1, kNone);
  } else {
    latest_.clear();
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    ChangeRef& change = batch[i];
    std::size_t* at;  // the index of this seq's live change; kNone: none yet
    if (dense) {
      at = &slots_[change.row.seq - base];
    } else {
      at = &latest_.try_emplace(change.row.seq, kNone).first->second;
    }
    if (*at == kNone) {
      *at = i;
      continue;
    }
    ChangeRef& earlier = batch[*at];
    if (fold_update(earlier, change)) {
      apply_[i] = false;
    } else if (change.op == ChangeOp::remove && earlier.op == ChangeOp::insert) {
      apply_[*at] = false;
      apply_[i] = false;
      *at = kNone;
    } else if (change.op == ChangeOp::remove && earlier.op == ChangeOp::update) {
      apply_[*at] = false;
      *at = i;
    } else {  // an insert after anything, an update after a remove: kept as they are, in order
      *at = i;
    }
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!apply_[i]) continue;
    if (kept != i) batch[kept] = batch[i];
    ++kept;
  }
  batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(kept), batch.end());
}

Gathering gathering_after(std::size_t previous) {
  if (previous < kBusyBatch) return {kGatherChanges, kGatherWindow, false};
  return {std::min(previous, kGatherChangesMax), kGatherWindowBusy, true};
}

}  // namespace jobd::store
