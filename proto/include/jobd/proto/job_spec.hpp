// The body of POST /v1/jobs, parsed and checked field by field.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>

#include "jobd/proto/job.hpp"
#include "jobd/proto/problem.hpp"

namespace jobd::proto {

inline constexpr std::size_t kMaxKindNameBytes = 128;
inline constexpr std::size_t kMaxIdempotencyKeyBytes = 256;

struct JobSpec {
  std::string kind;
  std::optional<Executor> executor;  // none: the kind's default
  nlohmann::json params = nlohmann::json::object();
  std::optional<std::int64_t> timeout_ms;
  std::optional<std::string> idempotency_key;
};

// Checks the shape of the request (not the kind's params: that needs the kind's schema).
// Unknown fields are refused so that a misspelt `timeout_ms` is not silently ignored.
std::variant<JobSpec, Problem> parse_job_spec(const nlohmann::json& body);

}  // namespace jobd::proto
