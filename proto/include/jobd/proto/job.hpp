// Job states and executor names as they appear on the wire.
#pragma once

#include <optional>
#include <string_view>

namespace jobd::proto {

enum class JobState { queued, running, succeeded, failed, cancelled, timed_out };

// The four concurrency models a job can run under (DESIGN §1).
enum class Executor { loop, thread, process, subprocess };

inline constexpr Executor kAllExecutors[] = {Executor::loop, Executor::thread, Executor::process,
                                             Executor::subprocess};

std::string_view to_string(JobState state) noexcept;
std::string_view to_string(Executor executor) noexcept;
std::optional<JobState> parse_job_state(std::string_view text) noexcept;
std::optional<Executor> parse_executor(std::string_view text) noexcept;

// A final state never changes again.
constexpr bool is_final(JobState state) noexcept {
  return state != JobState::queued && state != JobState::running;
}

// Stable `error.type` values of failed, cancelled and timed-out jobs.
namespace job_error {
inline constexpr std::string_view kind_failed = "kind-failed";  // the kind reported a failure
inline constexpr std::string_view cancelled = "cancelled";      // DELETE or shutdown
inline constexpr std::string_view timed_out = "timed-out";      // deadline passed
inline constexpr std::string_view crashed = "crashed";          // the worker process died
inline constexpr std::string_view out_of_memory = "out-of-memory";
inline constexpr std::string_view exit_status = "exit-status";    // subprocess exited non-zero
inline constexpr std::string_view spawn_failed = "spawn-failed";  // subprocess could not start
inline constexpr std::string_view internal = "internal";
inline constexpr std::string_view interrupted = "interrupted";  // jobd stopped (kill -9, crash) while it ran
}  // namespace job_error

}  // namespace jobd::proto
