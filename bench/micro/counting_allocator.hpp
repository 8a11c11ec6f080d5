// A counting global allocator for the allocations benchmark: every operator new and every C
// malloc/calloc/realloc/aligned allocation is counted (except on a thread that sets
// `uncounted`), and while `tracking` is on each allocation is remembered until it is freed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace counting {
extern std::atomic<std::uint64_t> news;
extern std::atomic<std::uint64_t> new_bytes;
extern std::atomic<std::uint64_t> mallocs;  // C allocations (not through operator new)
extern std::atomic<std::uint64_t> malloc_bytes;
extern std::atomic<std::int64_t> live_bytes;  // usable bytes allocated and not yet freed, all threads
extern thread_local bool uncounted;           // set on a thread whose allocations do not count
extern std::atomic<bool> tracking;
// What tracking saw allocated and still held when it stopped: (usable size, count) pairs.
std::vector<std::pair<std::size_t, std::size_t>> held_sizes();
}  // namespace counting
