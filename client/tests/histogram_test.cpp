#include "jobd/client/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

using jobd::client::LatencyHistogram;

TEST(LatencyHistogram, BucketsCoverEveryValueWithSmallRelativeError) {
  for (std::uint64_t value :
       {0ull, 1ull, 255ull, 256ull, 257ull, 1000ull, 123456789ull, 1ull << 40, (1ull << 63) + 12345, ~0ull}) {
    const auto index = LatencyHistogram::index_of(value);
    EXPECT_LE(LatencyHistogram::lowest_of(index), value) << value;
    EXPECT_GE(LatencyHistogram::highest_of(index), value) << value;
    const double width =
        static_cast<double>(LatencyHistogram::highest_of(index) - LatencyHistogram::lowest_of(index));
    EXPECT_LE(width, static_cast<double>(value) / 128.0 + 1.0) << value;
  }
  // Neighbouring buckets meet without gaps.
  for (std::size_t i = 0; i + 1 < 2000; ++i) {
    EXPECT_EQ(LatencyHistogram::highest_of(i) + 1, LatencyHistogram::lowest_of(i + 1)) << i;
  }
}

TEST(LatencyHistogram, QuantilesMatchASortedVectorWithinResolution) {
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> shape(13.0, 1.0);  // around half a millisecond, long tail
  std::vector<std::uint64_t> values;
  LatencyHistogram histogram;
  for (int i = 0; i < 100000; ++i) {
    const auto value = static_cast<std::uint64_t>(shape(random));
    values.push_back(value);
    histogram.record_ns(value);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const auto exact =
        values[static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size()))) - 1];
    const auto estimate = histogram.quantile_ns(q);
    EXPECT_GE(estimate, exact) << q;
    EXPECT_LE(static_cast<double>(estimate), static_cast<double>(exact) * (1.0 + 1.0 / 128.0) + 1.0) << q;
  }
  EXPECT_EQ(histogram.quantile_ns(1.0), values.back());
  EXPECT_EQ(histogram.max_ns(), values.back());
  EXPECT_EQ(histogram.min_ns(), values.front());
  EXPECT_EQ(histogram.count(), values.size());
}

TEST(LatencyHistogram, MergesAndGroupsByOctave) {
  LatencyHistogram a;
  LatencyHistogram b;
  a.record_ns(1000);
  a.record_ns(1500);
  b.record_ns(3000);
  a.merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.max_ns(), 3000u);
  std::uint64_t total = 0;
  for (const auto& range : a.octaves()) {
    EXPECT_LT(range.low_ns, range.high_ns);
    total += range.count;
  }
  EXPECT_EQ(total, 3u);
  a.reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.quantile_ns(0.5), 0u);
}
