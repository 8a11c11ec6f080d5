// primes {n}: counts primes <= n. Pure CPU: runs on the thread pool or in a worker process.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kinds/builtin.hpp"

namespace jobd::kinds {

inline constexpr std::int64_t kMaxPrimesN = 1'000'000'000;
// Odd numbers per sieve segment: 256 KiB of flags stays in L2 and bounds the time between two
// checkpoints to well under a millisecond.
inline constexpr std::int64_t kSegmentOdds = std::int64_t{256} * 1024;

std::optional<std::int64_t> count_primes(std::int64_t n, CpuContext& ctx) {
  if (n < 2) return 0;
  if (n < 3) return 1;
  // Base primes up to sqrt(n), by a plain sieve (at most 31,623 for n = 10^9).
  const auto root = static_cast<std::int64_t>(std::sqrt(static_cast<double>(n))) + 1;
  std::vector<char> small(static_cast<std::size_t>(root + 1), 1);
  std::vector<std::int64_t> base;
  for (std::int64_t i = 3; i <= root; i += 2) {
    if (!small[static_cast<std::size_t>(i)]) continue;
    base.push_back(i);
    for (std::int64_t j = i * i; j <= root; j += 2 * i) small[static_cast<std::size_t>(j)] = 0;
  }
  // Segmented sieve over odd numbers 3, 5, 7, ... <= n; index k stands for 2k + 3.
  const std::int64_t odd_count = (n - 1) / 2;  // odd numbers in [3, n]
  // Sized to what n needs: a small n must not pay for clearing a whole segment.
  std::vector<char> segment(static_cast<std::size_t>(std::min(kSegmentOdds, odd_count)));
  std::int64_t count = 1;  // the prime 2
  for (std::int64_t low = 0; low < odd_count; low += kSegmentOdds) {
    if (ctx.checkpoint()) return std::nullopt;
    const std::int64_t high = std::min(low + kSegmentOdds, odd_count);
    std::fill(segment.begin(), segment.begin() + (high - low), 1);
    const std::int64_t low_value = 2 * low + 3;
    const std::int64_t high_value = 2 * (high - 1) + 3;
    for (std::int64_t p : base) {
      if (p * p > high_value) break;
      std::int64_t start = std::max(p * p, (low_value + p - 1) / p * p);
      if (start % 2 == 0) start += p;
      for (std::int64_t v = start; v <= high_value; v += 2 * p) {
        segment[static_cast<std::size_t>((v - 3) / 2 - low)] = 0;
      }
    }
    count += std::count(segment.begin(), segment.begin() + (high - low), 1);
    if (ctx.progress && high < odd_count) {
      ctx.progress(static_cast<double>(high) / static_cast<double>(odd_count), "sieving");
    }
  }
  return count;
}

Kind make_primes_kind() {
  Kind kind;
  kind.name = "primes";
  kind.description = "Counts the primes <= n (segmented sieve of Eratosthenes).";
  kind.params.params = {{.name = "n",
                         .type = proto::ParamType::integer,
                         .description = "upper bound, inclusive",
                         .required = true,
                         .minimum = 0,
                         .maximum = static_cast<double>(kMaxPrimesN)}};
  kind.executors = {proto::Executor::thread, proto::Executor::process};
  kind.cancellation = "cooperative on thread (checked every sieve segment); kill on process";
  kind.run_on_cpu = [](const nlohmann::json& params, CpuContext& ctx) {
    auto count = count_primes(params.at("n").get<std::int64_t>(), ctx);
    if (!count) return Outcome::failure(proto::job_error::cancelled, "stopped");
    return Outcome::success({{"count", *count}});
  };
  return kind;
}

}  // namespace jobd::kinds
