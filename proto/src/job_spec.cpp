#include "jobd/proto/job_spec.hpp"

#include "jobd/proto/rfc3339.hpp"

namespace jobd::proto {

namespace {
Problem field_problem(std::string pointer, std::string detail) {
  return Problem{problems::invalid_request, std::move(detail), std::move(pointer), std::nullopt};
}

// An integer within [low, high], or nullopt.
std::optional<std::int64_t> integer_in(const nlohmann::json& value, std::int64_t low, std::int64_t high) {
  if (!value.is_number_integer()) return std::nullopt;
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(high)) {
    return std::nullopt;
  }
  const auto number = value.get<std::int64_t>();
  if (number < low || number > high) return std::nullopt;
  return number;
}

std::string range_text(std::int64_t low, std::int64_t high, std::string_view unit) {
  return "must be an integer from " + std::to_string(low) + " to " + std::to_string(high) +
         (unit.empty() ? "" : " (" + std::string(unit) + ")");
}

bool printable_ascii(const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
}  // namespace

namespace {

// `owned`: the caller gave the body over, so its params may be moved out (a const view of a
// body that is not const: the const_cast below is sound).
std::variant<JobSpec, Problem> parse(const nlohmann::json& body, bool owned) {
  if (!body.is_object()) return field_problem("", "request body must be a JSON object");
  JobSpec spec;
  for (const auto& [key, value] : body.items()) {
    if (key == "kind") {
      if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
        return field_problem("/kind", "must be a non-empty string");
      }
      if (value.get_ref<const std::string&>().size() > kMaxKindNameBytes) {
        return field_problem("/kind", "must be at most 128 bytes");
      }
      spec.kind = value.get<std::string>();
    } else if (key == "executor") {
      auto executor = value.is_string() ? parse_executor(value.get_ref<const std::string&>()) : std::nullopt;
      if (!executor) return field_problem("/executor", "must be one of: loop, thread, process, subprocess");
      spec.executor = executor;
    } else if (key == "params") {
      if (!value.is_object()) return field_problem("/params", "must be an object");
      if (owned) {
        spec.params = std::move(const_cast<nlohmann::json&>(value));
      } else {
        spec.params = value;
      }
    } else if (key == "timeout_ms") {
      if (!value.is_number_integer() ||
          (value.is_number_unsigned() && value.get<std::uint64_t>() > INT64_MAX) ||
          value.get<std::int64_t>() <= 0) {
        return field_problem("/timeout_ms", "must be a positive integer (milliseconds)");
      }
      spec.timeout_ms = value.get<std::int64_t>();
    } else if (key == "idempotency_key") {
      if (!value.is_string() || value.get_ref<const std::string&>().empty() ||
          value.get_ref<const std::string&>().size() > kMaxIdempotencyKeyBytes ||
          !printable_ascii(value.get_ref<const std::string&>())) {
        return field_problem("/idempotency_key", "must be 1 to 256 printable ASCII characters");
      }
      spec.idempotency_key = value.get<std::string>();
    } else if (key == "max_attempts") {
      auto number = integer_in(value, 1, kMaxAttempts);
      if (!number) return field_problem("/max_attempts", range_text(1, kMaxAttempts, ""));
      spec.max_attempts = *number;
    } else if (key == "retry_delay_ms") {
      auto number = integer_in(value, kMinRetryDelayMs, kMaxRetryDelayMs);
      if (!number) {
        return field_problem("/retry_delay_ms",
                             range_text(kMinRetryDelayMs, kMaxRetryDelayMs, "milliseconds"));
      }
      spec.retry_delay_ms = *number;
    } else if (key == "delay_ms") {
      auto number = integer_in(value, 0, kMaxDelayMs);
      if (!number) return field_problem("/delay_ms", range_text(0, kMaxDelayMs, "milliseconds, 30 days"));
      spec.delay_ms = *number;
    } else if (key == "run_at") {
      auto at = value.is_string() ? parse_rfc3339_ms(value.get_ref<const std::string&>()) : std::nullopt;
      if (!at) return field_problem("/run_at", "must be an RFC 3339 date-time, e.g. 2026-11-28T10:00:00Z");
      spec.run_at_ms = *at;
    } else {
      return field_problem("/" + json_pointer_token(key), "unknown field");
    }
  }
  if (spec.kind.empty()) return field_problem("/kind", "is required");
  if (spec.delay_ms && spec.run_at_ms) return field_problem("/run_at", "give delay_ms or run_at, not both");
  return spec;
}

}  // namespace

std::variant<JobSpec, Problem> parse_job_spec(const nlohmann::json& body) { return parse(body, false); }

std::variant<JobSpec, Problem> parse_job_spec(nlohmann::json&& body) { return parse(body, true); }

}  // namespace jobd::proto
