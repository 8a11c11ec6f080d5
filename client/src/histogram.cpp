#include "jobd/client/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace jobd::client {

namespace {
constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << LatencyHistogram::kSubBucketBits;  // 256
constexpr std::uint64_t kHalf = kSubBuckets / 2;                                             // 128
// Shifts 1..(64 - kSubBucketBits) cover values up to 2^64 - 1.
constexpr std::size_t kBucketCount = kSubBuckets + (64 - LatencyHistogram::kSubBucketBits) * kHalf;
}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBucketCount, 0) {}

std::size_t LatencyHistogram::index_of(std::uint64_t value) {
  if (value < kSubBuckets) return static_cast<std::size_t>(value);
  // value has its top bit at position msb >= kSubBucketBits; keep its top kSubBucketBits bits.
  const unsigned msb = static_cast<unsigned>(std::bit_width(value)) - 1;
  const unsigned shift = msb - kSubBucketBits + 1;
  const std::uint64_t sub = value >> shift;  // in [kHalf, kSubBuckets)
  return static_cast<std::size_t>(kSubBuckets + (shift - 1) * kHalf + (sub - kHalf));
}

std::uint64_t LatencyHistogram::lowest_of(std::size_t index) {
  if (index < kSubBuckets) return index;
  const std::uint64_t shift = (index - kSubBuckets) / kHalf + 1;
  const std::uint64_t sub = (index - kSubBuckets) % kHalf + kHalf;
  return sub << shift;
}

std::uint64_t LatencyHistogram::highest_of(std::size_t index) {
  if (index < kSubBuckets) return index;
  const std::uint64_t shift = (index - kSubBuckets) / kHalf + 1;
  return lowest_of(index) + ((std::uint64_t{1} << shift) - 1);
}

void LatencyHistogram::record(std::chrono::nanoseconds value) {
  record_ns(value.count() < 0 ? 0 : static_cast<std::uint64_t>(value.count()));
}

void LatencyHistogram::record_ns(std::uint64_t value) {
  ++counts_[index_of(value)];
  ++count_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += value;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void LatencyHistogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0;
}

std::uint64_t LatencyHistogram::quantile_ns(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank =
      std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(highest_of(i), min_, max_);
  }
  return max_;
}

std::vector<LatencyHistogram::Range> LatencyHistogram::octaves() const {
  std::vector<Range> ranges;
  if (count_ == 0) return ranges;
  // One row per power of two between the smallest and the largest sample.
  const unsigned first = static_cast<unsigned>(std::bit_width(min_));
  const unsigned last = static_cast<unsigned>(std::bit_width(max_));
  for (unsigned bits = first; bits <= last; ++bits) {
    const std::uint64_t low = bits == 0 ? 0 : std::uint64_t{1} << (bits - 1);
    const std::uint64_t high = bits >= 64 ? UINT64_MAX : std::uint64_t{1} << bits;
    ranges.push_back({low, high, 0});
  }
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    const unsigned bits = static_cast<unsigned>(std::bit_width(lowest_of(i)));
    ranges[bits - first].count += counts_[i];
  }
  return ranges;
}

}  // namespace jobd::client
