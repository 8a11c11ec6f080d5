#include "jobd/proto/job_spec.hpp"

#include "job_spec_fields.hpp"
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

bool printable_ascii(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
}  // namespace

namespace detail {

Field field_of(std::string_view key) noexcept {
  if (key == "kind") return Field::kind;
  if (key == "executor") return Field::executor;
  if (key == "params") return Field::params;
  if (key == "timeout_ms") return Field::timeout_ms;
  if (key == "idempotency_key") return Field::idempotency_key;
  if (key == "max_attempts") return Field::max_attempts;
  if (key == "retry_delay_ms") return Field::retry_delay_ms;
  if (key == "delay_ms") return Field::delay_ms;
  if (key == "run_at") return Field::run_at;
  return Field::unknown;
}

bool is_text_field(Field field) noexcept {
  return field == Field::kind || field == Field::executor || field == Field::idempotency_key ||
         field == Field::run_at;
}

std::optional<Problem> set_text_field(JobSpec& spec, Field field, const std::string_view* value) {
  switch (field) {
    case Field::kind:
      if (value == nullptr || value->empty()) return field_problem("/kind", "must be a non-empty string");
      if (value->size() > kMaxKindNameBytes) return field_problem("/kind", "must be at most 128 bytes");
      spec.kind = *value;
      return std::nullopt;
    case Field::executor: {
      auto executor = value != nullptr ? parse_executor(*value) : std::nullopt;
      if (!executor) return field_problem("/executor", "must be one of: loop, thread, process, subprocess");
      spec.executor = executor;
      return std::nullopt;
    }
    case Field::idempotency_key:
      if (value == nullptr || value->empty() || value->size() > kMaxIdempotencyKeyBytes ||
          !printable_ascii(*value)) {
        return field_problem("/idempotency_key", "must be 1 to 256 printable ASCII characters");
      }
      spec.idempotency_key = std::string(*value);
      return std::nullopt;
    case Field::run_at: {
      auto at = value != nullptr ? parse_rfc3339_ms(*value) : std::nullopt;
      if (!at) return field_problem("/run_at", "must be an RFC 3339 date-time, e.g. 2026-11-28T10:00:00Z");
      spec.run_at_ms = *at;
      return std::nullopt;
    }
    default: return field_problem("", "not a text field");  // unreachable: callers check
  }
}

std::optional<Problem> set_number_field(JobSpec& spec, Field field, const nlohmann::json& value) {
  switch (field) {
    case Field::timeout_ms:
      if (!value.is_number_integer() ||
          (value.is_number_unsigned() && value.get<std::uint64_t>() > INT64_MAX) ||
          value.get<std::int64_t>() <= 0) {
        return field_problem("/timeout_ms", "must be a positive integer (milliseconds)");
      }
      spec.timeout_ms = value.get<std::int64_t>();
      return std::nullopt;
    case Field::max_attempts: {
      auto number = integer_in(value, 1, kMaxAttempts);
      if (!number) return field_problem("/max_attempts", range_text(1, kMaxAttempts, ""));
      spec.max_attempts = *number;
      return std::nullopt;
    }
    case Field::retry_delay_ms: {
      auto number = integer_in(value, kMinRetryDelayMs, kMaxRetryDelayMs);
      if (!number) {
        return field_problem("/retry_delay_ms",
                             range_text(kMinRetryDelayMs, kMaxRetryDelayMs, "milliseconds"));
      }
      spec.retry_delay_ms = *number;
      return std::nullopt;
    }
    case Field::delay_ms: {
      auto number = integer_in(value, 0, kMaxDelayMs);
      if (!number) return field_problem("/delay_ms", range_text(0, kMaxDelayMs, "milliseconds, 30 days"));
      spec.delay_ms = *number;
      return std::nullopt;
    }
    default: return field_problem("", "not a number field");  // unreachable: callers check
  }
}

std::optional<Problem> check_spec(const JobSpec& spec) {
  if (spec.kind.empty()) return field_problem("/kind", "is required");
  if (spec.delay_ms && spec.run_at_ms) return field_problem("/run_at", "give delay_ms or run_at, not both");
  return std::nullopt;
}

}  // namespace detail

namespace {

// `owned`: the caller gave the body over, so its params may be moved out (a const view of a
// body that is not const: the const_cast below is sound).
std::variant<JobSpec, Problem> parse(const nlohmann::json& body, bool owned) {
  using detail::Field;
  if (!body.is_object()) return field_problem("", "request body must be a JSON object");
  JobSpec spec;
  for (const auto& [key, value] : body.items()) {
    const Field field = detail::field_of(key);
    if (field == Field::params) {
      if (!value.is_object()) return field_problem("/params", "must be an object");
      if (owned) {
        spec.params = std::move(const_cast<nlohmann::json&>(value));
      } else {
        spec.params = value;
      }
    } else if (detail::is_text_field(field)) {
      std::string_view text;
      if (value.is_string()) text = value.get_ref<const std::string&>();
      if (auto problem = detail::set_text_field(spec, field, value.is_string() ? &text : nullptr))
        return *problem;
    } else if (field != Field::unknown) {
      if (auto problem = detail::set_number_field(spec, field, value)) return *problem;
    } else {
      return field_problem("/" + json_pointer_token(key), "unknown field");
    }
  }
  if (auto problem = detail::check_spec(spec)) return *problem;
  return spec;
}

}  // namespace

std::variant<JobSpec, Problem> parse_job_spec(const nlohmann::json& body) { return parse(body, false); }

std::variant<JobSpec, Problem> parse_job_spec(nlohmann::json&& body) { return parse(body, true); }

}  // namespace jobd::proto
