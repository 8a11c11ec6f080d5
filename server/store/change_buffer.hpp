// ChangeBuffer: changes written one after another into one growing byte buffer, the form in
// which SqliteStore's loop half hands them to its writer thread.
//
// A change is a fixed header (its op, seq, numbers and text lengths) followed by its texts, the
// mutable ones last. Writing one copies its fields once and allocates nothing once the buffer
// has grown to the size of a batch (the buffers are swapped between loop and writer, capacity
// kept); the writer reads the changes back as views into the buffer, binds them to SQLite
// without a copy, and frees nothing per change. As Change values, a change cost the loop the
// allocations of its strings and the writer their frees, across threads (bench/RESULTS.md,
// stop 42).
// An update that follows the same job's insert or update is folded into it where it lies (as
// fold_update, change_batch.hpp): its mutable texts replace the earlier ones at the buffer's end.
// Sans-I/O, not thread-safe: one thread at a time (the hand-over is under SqliteStore's mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "store/job_row.hpp"

namespace jobd::store {

class ChangeBuffer {
 public:
  // Appends the change, or folds it into the one appended last; true when folded.
  bool append(ChangeOp op, const RowRef& row);
  // Appends every change of `other` after this buffer's own (nothing is folded across them).
  void append(const ChangeBuffer& other);
  // Adds this buffer's changes, in order, to `out` as views into it: valid until it next changes.
  void decode(std::vector<ChangeRef>& out) const;

  bool empty() const noexcept { return bytes_.empty(); }
  std::size_t size_bytes() const noexcept { return bytes_.size(); }
  void clear() noexcept {
    bytes_.clear();
    last_ = kNone;
  }
  void swap(ChangeBuffer& other) noexcept {
    bytes_.swap(other.bytes_);
    std::swap(last_, other.last_);
  }

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::vector<char> bytes_;
  std::size_t last_ = kNone;  // where the change appended last starts; kNone: none to fold into
};

}  // namespace jobd::store
