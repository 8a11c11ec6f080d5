// LatencyHistogram: log-linear buckets in the manner of HdrHistogram. Values (nanoseconds)
// below 2^kSubBucketBits get one bucket each; above that, every power-of-two range is split into
// 2^(kSubBucketBits-1) equal buckets, so any recorded value is known to within 1/128 (< 0.8 %)
// at a fixed 59 KB of counters, whatever the number of samples. Recording is an index
// computation and an increment: cheap enough to run per request inside the load generator.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace jobd::client {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBucketBits = 8;  // 2^-7 relative resolution

  LatencyHistogram();

  void record(std::chrono::nanoseconds value);
  void record_ns(std::uint64_t value);
  void merge(const LatencyHistogram& other);
  void reset();

  std::uint64_t count() const { return count_; }
  std::uint64_t min_ns() const { return count_ == 0 ? 0 : min_; }
  std::uint64_t max_ns() const { return max_; }
  double mean_ns() const {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
  }
  // The value at quantile q in [0, 1]: the highest value that shares a bucket with the sample of
  // rank ceil(q * count), clamped to the exact min and max. 0 when empty.
  std::uint64_t quantile_ns(double q) const;

  // Counts grouped per power of two (for a coarse printed distribution): [low, high) ns.
  struct Range {
    std::uint64_t low_ns;
    std::uint64_t high_ns;
    std::uint64_t count;
  };
  std::vector<Range> octaves() const;

  // Bucket arithmetic, public for the tests.
  static std::size_t index_of(std::uint64_t value);
  static std::uint64_t lowest_of(std::size_t index);
  static std::uint64_t highest_of(std::size_t index);

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;  // for the mean; wraps only after ~584 years of summed latency
};

}  // namespace jobd::client
