#include "jobs/id_index.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>

namespace jobd::jobs {

namespace {

// Digit values of '0'-'9' and 'a'-'f'; 0xff for every other byte (uppercase included: the id's
// text is compared exactly, as before).
constexpr std::array<std::uint8_t, 256> kHexDigits = [] {
  std::array<std::uint8_t, 256> digits{};
  digits.fill(0xff);
  for (int c = 0; c < 10; ++c) digits['0' + c] = static_cast<std::uint8_t>(c);
  for (int c = 0; c < 6; ++c) digits['a' + c] = static_cast<std::uint8_t>(10 + c);
  return digits;
}();

// 16 hex digits into a word; false when one is not a digit.
bool parse_half(const char* text, std::uint64_t& out) {
  std::uint64_t value = 0;
  std::uint8_t bad = 0;
  for (int i = 0; i < 16; ++i) {
    const std::uint8_t digit = kHexDigits[static_cast<unsigned char>(text[i])];
    bad |= digit;  // any 0xff sets the high bit, which no digit has
    value = (value << 4) | (digit & 0xf);
  }
  out = value;
  return (bad & 0x80) == 0;
}

}  // namespace

std::optional<IdKey> parse_job_id(std::string_view id) {
  IdKey key;
  if (id.size() != 32 || !parse_half(id.data(), key.hi) || !parse_half(id.data() + 16, key.lo))
    return std::nullopt;
  return key;
}

std::size_t IdIndex::home_slot(IdKey key) const {
  // Fibonacci hashing: the product's top bits depend on every bit of both halves.
  return static_cast<std::size_t>(((key.lo ^ (key.hi * 0xff51afd7ed558ccdULL)) * 0x9e3779b97f4a7c15ULL) >>
                                  shift_);
}

bool IdIndex::insert(std::string_view id, Job* job) {
  if (auto key = parse_job_id(id)) return insert(*key, job);
  return others_.emplace(id, job).second;
}

Job* IdIndex::find(std::string_view id) const {
  if (auto key = parse_job_id(id)) return find(*key);
  if (others_.empty()) return nullptr;
  auto it = others_.find(id);
  return it == others_.end() ? nullptr : it->second;
}

bool IdIndex::erase(std::string_view id) {
  if (auto key = parse_job_id(id)) return erase(*key);
  return others_.erase(id) != 0;
}

void IdIndex::reserve(std::size_t count) {
  std::size_t capacity = std::max(slots_.size(), kMinCapacity);
  while (count * 100 > capacity * kMaxLoadPercent) capacity *= 2;
  if (capacity != slots_.size()) rehash(capacity);
}

bool IdIndex::insert(IdKey key, Job* job) {
  assert(job != nullptr);
  if ((size_ + 1) * 100 > slots_.size() * kMaxLoadPercent) rehash(std::max(slots_.size() * 2, kMinCapacity));
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = home_slot(key);; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.job == nullptr) {
      slot = {key, job};
      ++size_;
      return true;
    }
    if (slot.key == key) return false;
  }
}

Job* IdIndex::find(IdKey key) const {
  if (size_ == 0) return nullptr;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = home_slot(key);; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.job == nullptr) return nullptr;
    if (slot.key == key) return slot.job;
  }
}

bool IdIndex::erase(IdKey key) {
  if (size_ == 0) return false;
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = home_slot(key);
  for (;; hole = (hole + 1) & mask) {
    if (slots_[hole].job == nullptr) return false;
    if (slots_[hole].key == key) break;
  }
  // Backward shift: each later slot of the run moves into the hole unless that would put it
  // before its home (it is found from its home onwards, and never past an empty slot).
  for (std::size_t next = (hole + 1) & mask;; next = (next + 1) & mask) {
    Slot& slot = slots_[next];
    if (slot.job == nullptr) break;
    const std::size_t home = home_slot(slot.key);
    if (((next - home) & mask) >= ((next - hole) & mask)) {
      slots_[hole] = slot;
      hole = next;
    }
  }
  slots_[hole] = Slot{};
  --size_;
  return true;
}

void IdIndex::rehash(std::size_t capacity) {
  assert(std::has_single_bit(capacity) && size_ * 100 <= capacity * kMaxLoadPercent);
  std::vector<Slot> old(capacity);
  old.swap(slots_);
  shift_ = 64 - std::countr_zero(capacity);
  const std::size_t mask = capacity - 1;
  for (const Slot& slot : old) {
    if (slot.job == nullptr) continue;
    std::size_t i = home_slot(slot.key);
    while (slots_[i].job != nullptr) i = (i + 1) & mask;
    slots_[i] = slot;
  }
}

}  // namespace jobd::jobs
