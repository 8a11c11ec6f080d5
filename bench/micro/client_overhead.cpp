// client_overhead: what jobctl's own bookkeeping costs per job, so that `jobctl bench` is known
// not to be the bottleneck it measures. Times LatencyHistogram::record (per job), quantile
// (per progress line) against the sorted-vector alternative, and SseParser throughput
// (per `watch` event).
//
// Build: part of the CMake tree (target client_overhead). Run: ./client_overhead [samples=10000000]
// Prints one line per measurement, e.g.
//   histogram_record ns_per_op=2.1 n=10000000
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "jobd/client/histogram.hpp"
#include "jobd/client/sse.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double ns_since(Clock::time_point start, std::size_t ops) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count() / static_cast<double>(ops);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t samples = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10'000'000;
  std::mt19937_64 random(7);
  std::lognormal_distribution<double> shape(13.0, 1.0);  // ~0.5 ms with a long tail, in ns
  std::vector<std::uint64_t> values(samples);
  for (auto& value : values) value = static_cast<std::uint64_t>(shape(random));

  jobd::client::LatencyHistogram histogram;
  auto start = Clock::now();
  for (auto value : values) histogram.record_ns(value);
  std::printf("histogram_record ns_per_op=%.1f n=%zu\n", ns_since(start, samples), samples);

  constexpr std::size_t kQuantiles = 1000;
  std::uint64_t sink = 0;
  start = Clock::now();
  for (std::size_t i = 0; i < kQuantiles; ++i) sink += histogram.quantile_ns(0.99);
  std::printf("histogram_p99 ns_per_op=%.0f n=%zu bytes=%zu\n", ns_since(start, kQuantiles), kQuantiles,
              sizeof(std::uint64_t) * (jobd::client::LatencyHistogram::index_of(~0ull) + 1));

  // The alternative: keep every sample, sort for each percentile report.
  start = Clock::now();
  std::vector<std::uint64_t> kept;
  // NOLINTNEXTLINE(performance-inefficient-vector-operation): growing unreserved is what is measured
  for (auto value : values) kept.push_back(value);
  std::sort(kept.begin(), kept.end());
  sink += kept[kept.size() * 99 / 100];
  std::printf("sorted_vector_record_and_p99 ns_per_sample=%.1f bytes=%zu\n", ns_since(start, samples),
              kept.capacity() * sizeof(std::uint64_t));

  std::string stream;
  constexpr std::size_t kEvents = 200'000;
  for (std::size_t i = 0; i < kEvents; ++i) {
    stream += "id: " + std::to_string(i) + "\nevent: stdout\ndata: {\"line\":\"line number " +
              std::to_string(i) + "\"}\n\n";
  }
  std::size_t events = 0;
  jobd::client::SseParser parser([&](const jobd::client::SseEvent&) { return ++events, true; });
  start = Clock::now();
  for (std::size_t at = 0; at < stream.size(); at += 16384)
    parser.feed(std::string_view(stream).substr(at, 16384));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("sse_parse ns_per_event=%.0f mb_per_s=%.0f events=%zu\n",
              seconds * 1e9 / static_cast<double>(events), static_cast<double>(stream.size()) / seconds / 1e6,
              events);
  return sink == 42 ? 1 : 0;  // keeps `sink` alive
}
