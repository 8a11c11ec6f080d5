// RetryPolicy: whether a failed attempt is tried again, and after how long. Pure functions of
// their arguments (the random draw is passed in), so every bound is a unit test.
//
// What retries: a job that `crashed` (its worker died), `timed_out` (its attempt's deadline
// passed) or was `interrupted` (jobd stopped while it ran), and a kind's own failure only when
// the kind marked it retryable (proto::Outcome::retryable, proto::RetryableError). Never a
// cancel, never a success, never a kind's plain `failed`: retrying a bad input only fails again.
//
// Backoff: exponential with equal jitter. The ceiling of attempt n (the attempt that failed,
// 1-based) is min(cap, base * 2^(n-1)); the delay is drawn uniformly from [ceiling/2, ceiling].
// Equal jitter rather than full jitter ([0, ceiling]): a delay is never shorter than half its
// ceiling, so a retry always waits (a storm is impossible) and the gaps between attempts grow,
// while clients that failed together still spread over half the window.
#pragma once

#include <chrono>
#include <cstdint>

#include "jobd/proto/outcome.hpp"

namespace jobd::jobs {

// Default cap on one retry delay (--retry-max-delay).
inline constexpr std::chrono::milliseconds kDefaultRetryMaxDelay{std::chrono::minutes(10)};

// Whether this outcome of an attempt may be retried (attempts left aside).
bool is_retryable(const proto::Outcome& outcome) noexcept;

// The upper bound of the delay after attempt `failed_attempt` (1-based): base * 2^(n-1),
// saturating, at most `cap`.
std::chrono::milliseconds backoff_ceiling(std::chrono::milliseconds base, std::uint32_t failed_attempt,
                                          std::chrono::milliseconds cap) noexcept;

// The delay itself: ceiling/2 + unit * ceiling/2, for `unit` drawn uniformly from [0, 1).
std::chrono::milliseconds backoff_delay(std::chrono::milliseconds base, std::uint32_t failed_attempt,
                                        std::chrono::milliseconds cap, double unit) noexcept;

}  // namespace jobd::jobs
