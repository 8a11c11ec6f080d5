// IdIndex: jobs by id, the lookup behind every GET /v1/jobs/{id}, for the loop thread.
//
// A job id is 16 random bytes written as 32 lowercase hex digits (make_job_id). The index keys
// on those 16 bytes, parsed once per lookup, in a flat open-addressing table: linear probing,
// power-of-two capacity, grown at 70 % load, and backward-shift deletion (so no tombstones: a
// probe stops at the first empty slot however many jobs came and went). A slot is the two
// halves of the id and the Job: no node per job, no string hash, and a probe reads adjacent
// slots. The ids are random, so the hash only mixes the two halves (one multiply), which keeps
// ids of a less random form (a store row written by hand, a test's) spread as well.
//
// An id that is not 32 lowercase hex digits is never made by jobd; a request for one is simply
// not found, as before. A restored row could still carry one: such ids go to a plain map on the
// side (empty in practice), so that the table finds every job it holds by its exact text.
// Like JobTable's other indexes, the ids are views of the jobs' own (a Job never moves while
// it is in the table, and leaves the index before it is destroyed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace jobd::jobs {

struct Job;

// The 16 bytes of an id, as two big-endian halves of its text: hi the first 16 digits.
struct IdKey {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  friend bool operator==(const IdKey&, const IdKey&) = default;
};

// The key of a canonical id (32 lowercase hex digits); nullopt for any other text.
std::optional<IdKey> parse_job_id(std::string_view id);

class IdIndex {
 public:
  static constexpr std::size_t kMinCapacity = 16;
  // Grown when an insert would take the load past kMaxLoadPercent.
  static constexpr std::size_t kMaxLoadPercent = 70;

  // Adds `job` (not null) under `id`; false (nothing changed) when the id is already there.
  bool insert(std::string_view id, Job* job);
  Job* find(std::string_view id) const;
  // Removes the id; false when it was not there.
  bool erase(std::string_view id);
  // Room for `count` ids without growing.
  void reserve(std::size_t count);
  // Starts loading the slot where a probe for `key` begins (an insert or erase to come): a
  // hint, nothing changes.
  void prefetch(IdKey key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[home_slot(key)]);
  }
  std::size_t size() const { return size_ + others_.size(); }

  // The flat table itself, by key (what the text forms use; tests drive probing with these).
  bool insert(IdKey key, Job* job);
  Job* find(IdKey key) const;
  bool erase(IdKey key);
  std::size_t capacity() const { return slots_.size(); }
  // Where a probe for `key` starts (capacity() must not be 0).
  std::size_t home_slot(IdKey key) const;

 private:
  struct Slot {
    IdKey key;
    Job* job = nullptr;  // null: empty
  };
  void rehash(std::size_t capacity);

  std::vector<Slot> slots_;  // empty until the first insert, then a power of two
  std::size_t size_ = 0;
  int shift_ = 64;  // 64 - log2(capacity): the hash's top bits pick the slot
  // Ids that are not canonical (see above), by their text.
  std::unordered_map<std::string_view, Job*> others_;
};

}  // namespace jobd::jobs
