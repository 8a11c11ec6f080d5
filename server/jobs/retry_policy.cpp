#include "jobs/retry_policy.hpp"

#include <algorithm>

namespace jobd::jobs {

bool is_retryable(const proto::Outcome& outcome) noexcept {
  switch (outcome.state) {
    case proto::JobState::timed_out: return true;
    case proto::JobState::failed:
      return outcome.retryable || outcome.error_type == proto::job_error::crashed ||
             outcome.error_type == proto::job_error::interrupted;
    default: return false;  // succeeded, cancelled (and never a non-final state)
  }
}

std::chrono::milliseconds backoff_ceiling(std::chrono::milliseconds base, std::uint32_t failed_attempt,
                                          std::chrono::milliseconds cap) noexcept {
  if (base.count() <= 0 || cap.count() <= 0) return std::chrono::milliseconds(0);
  std::int64_t ceiling = std::min(base.count(), cap.count());
  // Doubling saturates at the cap, so nothing overflows and the loop ends within 63 steps
  // whatever the attempt number.
  for (std::uint32_t n = 1; n < failed_attempt && ceiling < cap.count(); ++n) {
    ceiling = ceiling > cap.count() / 2 ? cap.count() : ceiling * 2;
  }
  return std::chrono::milliseconds(ceiling);
}

std::chrono::milliseconds backoff_delay(std::chrono::milliseconds base, std::uint32_t failed_attempt,
                                        std::chrono::milliseconds cap, double unit) noexcept {
  const auto ceiling = backoff_ceiling(base, failed_attempt, cap).count();
  const double clamped = std::clamp(unit, 0.0, 1.0);
  const auto half = ceiling / 2;
  const auto jitter = static_cast<std::int64_t>(clamped * static_cast<double>(ceiling - half));
  return std::chrono::milliseconds(std::min(ceiling, half + jitter));
}

}  // namespace jobd::jobs
