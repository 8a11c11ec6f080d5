// The body of POST /v1/jobs, parsed and checked field by field.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "jobd/proto/job.hpp"
#include "jobd/proto/problem.hpp"

namespace jobd::proto {

inline constexpr std::size_t kMaxKindNameBytes = 128;
inline constexpr std::size_t kMaxIdempotencyKeyBytes = 256;
// Attempts and delays (README, "Retries and delayed jobs"). Each bound keeps a job's life finite
// and a retry storm impossible: attempts are few, and the base delay is never zero.
inline constexpr std::int64_t kMaxAttempts = 20;
inline constexpr std::int64_t kDefaultRetryDelayMs = 1000;
inline constexpr std::int64_t kMinRetryDelayMs = 10;
inline constexpr std::int64_t kMaxRetryDelayMs = 3'600'000;         // 1 h
inline constexpr std::int64_t kMaxDelayMs = 30LL * 24 * 3'600'000;  // 30 days, for run_at too

struct JobSpec {
  std::string kind;
  std::optional<Executor> executor;  // none: the kind's default
  nlohmann::json params = nlohmann::json::object();
  std::optional<std::int64_t> timeout_ms;
  std::optional<std::string> idempotency_key;
  std::int64_t max_attempts = 1;                       // 1..kMaxAttempts
  std::int64_t retry_delay_ms = kDefaultRetryDelayMs;  // base of the backoff
  // When to run: after delay_ms, or at run_at (ms since the Unix epoch); at most one is given.
  // run_at is checked against the clock by the scheduler (past: now; too far: refused).
  std::optional<std::int64_t> delay_ms;
  std::optional<std::int64_t> run_at_ms;
};

// Checks the shape of the request (not the kind's params: that needs the kind's schema).
// Unknown fields are refused so that a misspelt `timeout_ms` is not silently ignored.
std::variant<JobSpec, Problem> parse_job_spec(const nlohmann::json& body);
// The same, taking the body over: its params are moved into the spec, not copied.
std::variant<JobSpec, Problem> parse_job_spec(nlohmann::json&& body);
// The usual body read straight from its text, without a document for the whole body: the spec
// parse_job_spec would give, or nullopt. Declines anything outside a small grammar (params a flat
// object of strings, integers, booleans and null; strings printable ASCII without escapes) and
// anything parse_job_spec would refuse: the caller then takes the DOM path, whose answers and
// errors stay the only ones. The body's media type, depth and duplicate names are checked first
// by the caller (http/json_body.hpp), as for the DOM path.
std::optional<JobSpec> parse_common_job_spec(std::string_view body);

}  // namespace jobd::proto
