#include "jobs/job.hpp"

#include <ctime>

#include "kinds/kind.hpp"

namespace jobd::jobs {

proto::JobState Job::visible_state() const {
  if (state == proto::JobState::queued && control &&
      control->started_ns.load(std::memory_order_relaxed) != 0) {
    return proto::JobState::running;
  }
  return state;
}

std::optional<Clock::time_point> Job::visible_started_at() const {
  if (started_at) return started_at;
  if (control) {
    if (auto ns = control->started_ns.load(std::memory_order_relaxed); ns != 0) {
      return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
    }
  }
  return std::nullopt;
}

std::string_view to_string(EventType type) noexcept {
  static constexpr std::string_view kNames[] = {"state", "progress", "stdout", "stderr"};
  return kNames[static_cast<int>(type)];
}

std::string format_rfc3339(Clock::time_point time) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(ms % 1000));
  return text;
}

nlohmann::json to_json(const Job& job) {
  nlohmann::json out = {{"id", job.id},
                        {"kind", job.kind->name},
                        {"executor", proto::to_string(job.executor)},
                        {"state", proto::to_string(job.visible_state())},
                        {"params", job.params},
                        {"created_at", format_rfc3339(job.created_at)}};
  if (job.timeout.count() > 0) out["timeout_ms"] = job.timeout.count();
  if (auto started = job.visible_started_at()) out["started_at"] = format_rfc3339(*started);
  if (job.finished_at) out["finished_at"] = format_rfc3339(*job.finished_at);
  if (job.progress > 0.0 && !proto::is_final(job.state)) out["progress"] = job.progress;
  if (job.state == proto::JobState::succeeded) out["result"] = job.result;
  if (job.error) out["error"] = {{"type", job.error->type}, {"message", job.error->message}};
  if (job.idempotency_key) out["idempotency_key"] = *job.idempotency_key;
  for (const auto& [key, value] : job.details.items()) out[key] = value;
  return out;
}

}  // namespace jobd::jobs
