// The counting allocator of bench/micro/allocations.cpp (counting_allocator.hpp says what it
// counts). Replaces malloc and friends and the global operator new/delete for the whole program.
#include "counting_allocator.hpp"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

// ---- the counting allocator ------------------------------------------------------------------
// glibc lets a program define malloc and friends (and calls its own through __libc_*); operator
// new goes straight to __libc_malloc so that a `new` is counted once, as a `new`.
// NOLINTBEGIN(bugprone-reserved-identifier): glibc's own names, declared to be called, not defined
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void __libc_free(void*);
void* __libc_memalign(std::size_t, std::size_t);
}
// NOLINTEND(bugprone-reserved-identifier)

namespace counting {
std::atomic<std::uint64_t> news{0};
std::atomic<std::uint64_t> new_bytes{0};
std::atomic<std::uint64_t> mallocs{0};  // C allocations (not through operator new)
std::atomic<std::uint64_t> malloc_bytes{0};
std::atomic<std::int64_t> live_bytes{0};  // usable bytes allocated and not yet freed, all threads
thread_local bool uncounted = false;      // the client thread

// While on: each allocation made, until it is freed (open addressing on the pointer; a hook
// must not allocate). What is still in the table when tracking stops is what the phase left
// held: for idle connections, what each one keeps.
struct Tracked {
  void* pointer;
  std::size_t size;
};
constexpr std::size_t kTracked = std::size_t{1} << 17;
std::atomic<bool> tracking{false};
std::atomic_flag g_track_lock = ATOMIC_FLAG_INIT;
Tracked g_tracked[kTracked];
void* const kTombstone = reinterpret_cast<void*>(1);

std::size_t slot_of(void* p) {
  return (reinterpret_cast<std::uintptr_t>(p) >> 4) * 0x9E3779B97F4A7C15ull >> 47;
}
void track(void* p, std::size_t size) {
  if (p == nullptr || !tracking.load(std::memory_order_relaxed)) return;
  while (g_track_lock.test_and_set(std::memory_order_acquire)) {
  }
  for (std::size_t i = slot_of(p), n = 0; n < kTracked; i = (i + 1) % kTracked, ++n) {
    if (g_tracked[i].pointer == nullptr || g_tracked[i].pointer == kTombstone) {
      g_tracked[i] = {p, size};
      break;
    }
  }
  g_track_lock.clear(std::memory_order_release);
}
void untrack(void* p) {
  if (p == nullptr || !tracking.load(std::memory_order_relaxed)) return;
  while (g_track_lock.test_and_set(std::memory_order_acquire)) {
  }
  for (std::size_t i = slot_of(p), n = 0; n < kTracked && g_tracked[i].pointer != nullptr;
       i = (i + 1) % kTracked, ++n) {
    if (g_tracked[i].pointer == p) {
      g_tracked[i].pointer = kTombstone;
      break;
    }
  }
  g_track_lock.clear(std::memory_order_release);
}
void count_new(std::size_t size) {
  if (uncounted) return;
  news.fetch_add(1, std::memory_order_relaxed);
  new_bytes.fetch_add(size, std::memory_order_relaxed);
}
void count_malloc(std::size_t size) {
  if (uncounted) return;
  mallocs.fetch_add(1, std::memory_order_relaxed);
  malloc_bytes.fetch_add(size, std::memory_order_relaxed);
}
void* live(void* p) {
  if (p != nullptr) {
    live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
    if (!uncounted) track(p, malloc_usable_size(p));
  }
  return p;
}
void release(void* p) {
  if (p != nullptr) {
    live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
    untrack(p);
  }
  __libc_free(p);
}
void* checked(void* p) {
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* aligned(std::size_t size, std::size_t alignment) {
  count_new(size);
  return checked(live(__libc_memalign(alignment, size == 0 ? 1 : size)));
}
std::vector<std::pair<std::size_t, std::size_t>> held_sizes() {
  std::vector<std::pair<std::size_t, std::size_t>> held;
  for (const auto& entry : g_tracked) {
    if (entry.pointer == nullptr || entry.pointer == kTombstone) continue;
    auto it = std::find_if(held.begin(), held.end(), [&](const auto& h) { return h.first == entry.size; });
    if (it == held.end()) {
      held.emplace_back(entry.size, 1);
    } else {
      ++it->second;
    }
  }
  return held;
}
}  // namespace counting

using namespace counting;

extern "C" {
void* malloc(std::size_t size) {
  count_malloc(size);
  return live(__libc_malloc(size));
}
void* calloc(std::size_t n, std::size_t size) {
  count_malloc(n * size);
  return live(__libc_calloc(n, size));
}
void* realloc(void* p, std::size_t size) {
  count_malloc(size);
  if (p != nullptr) {
    live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
    untrack(p);
  }
  return live(__libc_realloc(p, size));
}
void free(void* p) { release(p); }
void* memalign(std::size_t alignment, std::size_t size) {
  count_malloc(size);
  return live(__libc_memalign(alignment, size));
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  count_malloc(size);
  return live(__libc_memalign(alignment, size));
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  count_malloc(size);
  *out = live(__libc_memalign(alignment, size));
  return *out == nullptr ? ENOMEM : 0;
}
}

void* operator new(std::size_t size) {
  count_new(size);
  return checked(live(__libc_malloc(size == 0 ? 1 : size)));
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, std::align_val_t a) {
  return aligned(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return aligned(size, static_cast<std::size_t>(a));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  count_new(size);
  return live(__libc_malloc(size == 0 ? 1 : size));
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  count_new(size);
  return live(__libc_malloc(size == 0 ? 1 : size));
}
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
