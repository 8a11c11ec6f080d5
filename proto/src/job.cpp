#include "jobd/proto/job.hpp"

namespace jobd::proto {

namespace {
constexpr std::string_view kStateNames[] = {"queued", "running",   "succeeded",
                                            "failed", "cancelled", "timed_out"};
constexpr std::string_view kExecutorNames[] = {"loop", "thread", "process", "subprocess"};
}  // namespace

std::string_view to_string(JobState state) noexcept { return kStateNames[static_cast<int>(state)]; }

std::string_view to_string(Executor executor) noexcept { return kExecutorNames[static_cast<int>(executor)]; }

std::optional<JobState> parse_job_state(std::string_view text) noexcept {
  for (int i = 0; i < 6; ++i) {
    if (kStateNames[i] == text) return static_cast<JobState>(i);
  }
  return std::nullopt;
}

std::optional<Executor> parse_executor(std::string_view text) noexcept {
  for (int i = 0; i < 4; ++i) {
    if (kExecutorNames[i] == text) return static_cast<Executor>(i);
  }
  return std::nullopt;
}

}  // namespace jobd::proto
