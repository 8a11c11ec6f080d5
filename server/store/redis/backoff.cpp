#include "store/redis/backoff.hpp"

#include <algorithm>

namespace jobd::store::redis {

ReconnectBackoff::ReconnectBackoff(std::chrono::milliseconds min, std::chrono::milliseconds max,
                                   std::uint64_t seed)
    : min_(std::max(min, std::chrono::milliseconds(1))), max_(std::max(max, min_)), random_(seed) {}

std::chrono::milliseconds ReconnectBackoff::next() {
  // min * 2^failures without overflow: stop doubling once the cap is reached.
  std::int64_t step = min_.count();
  for (int i = 0; i < failures_ && step < max_.count(); ++i) step *= 2;
  step = std::min<std::int64_t>(step, max_.count());
  if (failures_ < 1'000'000) ++failures_;
  std::uniform_int_distribution<std::int64_t> upper_half(step / 2, step);
  return std::chrono::milliseconds(upper_half(random_));
}

}  // namespace jobd::store::redis
