#include "config/checks.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "config/units.hpp"

namespace jobd::config {

namespace {
using namespace std::chrono_literals;
constexpr milliseconds kDay = 24h;
}  // namespace

const std::vector<DurationBounds>& duration_bounds() {
  // Far below the ~292 years a steady_clock time point holds in nanoseconds, and each bound a
  // value no deployment needs to exceed.
  static const std::vector<DurationBounds> bounds = {
      {"--header-timeout", &Config::header_timeout, 1ms, 1h},
      {"--body-timeout", &Config::body_timeout, 1ms, kDay},
      {"--idle-timeout", &Config::idle_timeout, 1ms, 7 * kDay},
      {"--drain-timeout", &Config::drain_timeout, 0ms, kDay},
      {"--retention", &Config::retention, 1ms, 365 * kDay},
      {"--default-timeout", &Config::default_timeout, 1ms, 365 * kDay},
      {"--max-timeout", &Config::max_timeout, 1ms, 365 * kDay},
      {"--max-wait", &Config::max_wait, 0ms, kDay},
      {"--sse-heartbeat", &Config::sse_heartbeat, 100ms, 1h},
      {"--slow-handler", &Config::slow_handler, 1ms, 1h},
      {"--kill-grace", &Config::kill_grace, 0ms, 1h},
      {"--retry-max-delay", &Config::retry_max_delay, 1ms, kDay},
      {"--insert-hold", &Config::insert_hold, 0ms, 1min},
      {"--redis-lease", &Config::redis_lease, 300ms, kDay},
  };
  return bounds;
}

std::optional<std::string> check_config(const Config& config) {
  for (const auto& bound : duration_bounds()) {
    const milliseconds value = config.*bound.field;
    if (value < bound.min || value > bound.max) {
      return std::string(bound.flag) + ": " + format_duration(value) + " is outside " +
             format_duration(bound.min) + " .. " + format_duration(bound.max);
    }
  }
  if (config.default_timeout > config.max_timeout) {
    return "--default-timeout " + format_duration(config.default_timeout) + " is above --max-timeout " +
           format_duration(config.max_timeout) + ": every job that names no timeout_ms would be refused";
  }
  if (config.max_header < kMinHeaderBytes) {
    return "--max-header " + format_size(config.max_header) + " is below " + format_size(kMinHeaderBytes) +
           ": too small for a request line and its headers";
  }
  if (auto problem = check_store_uri(config.store)) return problem;
  if (!config.backup_dir.empty()) {
    if (!config.store.starts_with("sqlite:"))
      return "--backup-dir: only a --store sqlite:PATH is backed up by jobd (" + config.store + " is not)";
    std::error_code error;
    if (!std::filesystem::is_directory(config.backup_dir, error))
      return "--backup-dir " + config.backup_dir + ": not a directory";
    if (::access(config.backup_dir.c_str(), W_OK | X_OK) != 0)
      return "--backup-dir " + config.backup_dir + ": not writable: " + std::strerror(errno);
  }
  return std::nullopt;
}

std::optional<std::string> check_store_uri(std::string_view uri) {
  constexpr std::string_view kSqlite = "sqlite:";
  if (uri == "memory:") return std::nullopt;
  if (uri.starts_with(kSqlite)) {
    if (uri.size() > kSqlite.size()) return std::nullopt;
    return "--store sqlite: needs a file path, e.g. " + std::string(kDefaultStore);
  }
  // Redis: the URI itself is parsed at start-up (store/redis/uri.hpp), which names what is wrong.
  if (uri.starts_with("redis://") || uri.starts_with("redis+unix://")) return std::nullopt;
  return "--store '" + std::string(uri) + "': unknown store (use sqlite:PATH, memory: or redis://HOST:PORT)";
}

}  // namespace jobd::config
