// ReconnectBackoff: how long to wait before the next connection attempt.
//
// Doubles from `min` up to `max` with each failed attempt, and takes a random point in the
// upper half of that step ("equal jitter"), so that the replicas that lost Redis together do
// not come back in lock-step. reset() after a successful connect starts again from `min`.
//
// Must never: sleep or read a clock (pure; the session waits on a timer for what it returns).
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace jobd::store::redis {

class ReconnectBackoff {
 public:
  ReconnectBackoff(std::chrono::milliseconds min, std::chrono::milliseconds max, std::uint64_t seed);

  // The wait before the next attempt: in [step/2, step], step = min(min * 2^failures, max).
  std::chrono::milliseconds next();
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  int failures_ = 0;
  std::mt19937_64 random_;
};

}  // namespace jobd::store::redis
