// BatchCoalescer: folds the changes of one batch that concern the same job into one statement;
// gathering_after: how long the writer gathers a batch.
//
// Under load a job's insert, start and finish often land in the same group commit; each would
// be a statement that rewrites the whole row. An update carries every mutable column, so a later
// change can be folded into the earlier one of the same job without changing what the batch
// commits: update after insert or update -> the earlier change with the later columns; remove
// after insert -> neither (the seq still counts for the high-water mark); remove after update ->
// the remove alone. Order between different jobs never matters (rows are independent), and the
// batch is one transaction, so nobody can observe the folded intermediate states.
// The batch is compacted. It holds views into the writer's ChangeBuffer (change_buffer.hpp),
// which folds an update into the change written just before it the same way, on the loop.
// Sans-I/O, used by the writer thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "store/job_row.hpp"

namespace jobd::store {

// Folds `later` into `earlier` when the coalescer would (an update after an insert or an update
// of the same job: the earlier change takes the later mutable columns); false: kept apart.
bool fold_update(ChangeRef& earlier, const ChangeRef& later);

class BatchCoalescer {
 public:
  // Folds `batch` in place and removes the changes folded away.
  void coalesce(std::vector<ChangeRef>& batch);

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::vector<std::size_t> slots_;                         // seq - lowest -> its live change
  std::unordered_map<std::uint64_t, std::size_t> latest_;  // the same, for a sparse batch
  std::vector<bool> apply_;
};

// Group commit: how many changes the writer gathers, for at most how long, before a commit
// (SqliteStore::run_writer; the loop's write() wakes it once `changes` are there).
struct Gathering {
  std::size_t changes;
  std::chrono::microseconds window;
  bool busy;  // after a batch that counts as load
};
// After a batch of `previous` changes: after a small one (light load), a lone change waits up
// to 200 us for up to 64 others; after one of 32 or more (load), the writer waits up to 1 ms for
// as many as `previous` (at most 1024). See change_batch.cpp for why and what it measured.
Gathering gathering_after(std::size_t previous);

}  // namespace jobd::store
