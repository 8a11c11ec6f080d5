#include "store/redis_job_codec.hpp"

#include <cstdint>
#include <string>

#include "store/redis_reply_result.hpp"

namespace jobd::store {

namespace {

class JobsCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "jobd.redis_jobs"; }
  std::string message(int code) const override {
    switch (static_cast<RedisJobsError>(code)) {
      case RedisJobsError::script_error: return "Redis answered the script with an error";
      case RedisJobsError::unexpected_reply: return "unexpected reply from Redis";
    }
    return "unknown";
  }
};

// The value of `key` in INFO's text ("key:value\r\n" lines), or "".
std::string_view info_value(std::string_view info, std::string_view key) {
  std::size_t at = 0;
  while (at < info.size()) {
    std::size_t end = info.find('\n', at);
    if (end == std::string_view::npos) end = info.size();
    std::string_view line = info.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 && line[key.size()] == ':')
      return line.substr(key.size() + 1);
    at = end + 1;
  }
  return {};
}

}  // namespace

const std::error_category& redis_jobs_category() noexcept {
  static const JobsCategory category;
  return category;
}
std::error_code make_error_code(RedisJobsError e) noexcept {
  return {static_cast<int>(e), redis_jobs_category()};
}

std::optional<RedisJob> job_from_hash(const redis::Reply& fields) {
  const auto* array = fields.as_array();
  if (array == nullptr || array->empty() || array->size() % 2 != 0) return std::nullopt;
  RedisJob job;
  JobRow& row = job.row;
  bool has_id = false;
  for (std::size_t i = 0; i + 1 < array->size(); i += 2) {
    const std::string_view field = (*array)[i].text();
    const std::string_view value = (*array)[i + 1].text();
    const std::string text(value);
    if (field == "id") {
      row.id = text;
      has_id = true;
    } else if (field == "seq") {
      row.seq = number<std::uint64_t>(value);
    } else if (field == "kind") {
      row.kind = text;
    } else if (field == "executor") {
      row.executor = proto::parse_executor(value).value_or(proto::Executor::loop);
    } else if (field == "params") {
      row.params_json = text;
    } else if (field == "idempotency_key") {
      row.idempotency_key = text;
    } else if (field == "timeout_ms") {
      row.timeout_ms = number<std::int64_t>(value);
    } else if (field == "created_at") {
      row.created_at_ms = number<std::int64_t>(value);
    } else if (field == "max_attempts") {
      row.max_attempts = number<std::uint32_t>(value);
    } else if (field == "retry_delay_ms") {
      row.retry_delay_ms = number<std::int64_t>(value);
    } else if (field == "state") {
      row.state = proto::parse_job_state(value).value_or(proto::JobState::queued);
    } else if (field == "started_at") {
      row.started_at_ms = number<std::int64_t>(value);
    } else if (field == "finished_at") {
      row.finished_at_ms = number<std::int64_t>(value);
    } else if (field == "run_at") {
      row.run_at_ms = number<std::int64_t>(value);
    } else if (field == "attempt") {
      row.attempt = number<std::uint32_t>(value);
    } else if (field == "result") {
      row.result_json = text;
    } else if (field == "error_type") {
      row.error_type = text;
    } else if (field == "error_message") {
      row.error_message = text;
    } else if (field == "details") {
      row.details_json = text;
    } else if (field == "attempts") {
      row.attempts_json = text;
    } else if (field == "owner") {
      job.owner = text;
    } else if (field == "lease_until") {
      job.lease_until_ms = number<std::int64_t>(value);
    } else if (field == "cancel") {
      job.cancel_requested = value == "1";
    }
  }
  if (!has_id) return std::nullopt;
  return job;
}

ServerCheck assess_server(std::string_view info, std::string_view appendfsync) {
  ServerCheck check;
  check.version = std::string(info_value(info, "redis_version"));
  const int major = number<int>(check.version);
  if (major < 7) {
    check.ok = false;
    check.refusal = "Redis " + (check.version.empty() ? std::string("of unknown version") : check.version) +
                    ": jobd needs Redis 7 or newer (XAUTOCLAIM with deleted entries, scripts with XADD *)";
    return check;
  }
  const std::string_view policy = info_value(info, "maxmemory_policy");
  if (policy != "noeviction") {
    check.ok = false;
    check.refusal =
        "Redis maxmemory-policy is " + (policy.empty() ? std::string("unknown") : std::string(policy)) +
        ", not noeviction: under memory pressure Redis would silently delete job hashes and queue "
        "entries (acknowledged jobs lost); set maxmemory-policy noeviction";
    return check;
  }
  // Named views, not literals: GCC 12 sees a false array-bounds error in push_back("...").
  static constexpr std::string_view kNoAof =
      "Redis has no AOF (appendonly no): if Redis restarts, every job acknowledged since its last RDB "
      "snapshot is lost; set appendonly yes (appendfsync everysec loses at most about a second)";
  static constexpr std::string_view kNoFsync =
      "Redis appendfsync is no: the kernel decides when the AOF reaches the disk, so a machine crash can "
      "lose tens of seconds of acknowledged jobs; set appendfsync everysec or always";
  if (info_value(info, "aof_enabled") != "1") {
    check.warnings.emplace_back(kNoAof);
  } else if (appendfsync == "no") {
    check.warnings.emplace_back(kNoFsync);
  }
  return check;
}

}  // namespace jobd::store
