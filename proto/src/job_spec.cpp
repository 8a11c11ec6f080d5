#include "jobd/proto/job_spec.hpp"

namespace jobd::proto {

namespace {
Problem field_problem(std::string pointer, std::string detail) {
  return Problem{problems::invalid_request, std::move(detail), std::move(pointer), std::nullopt};
}

bool printable_ascii(const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
}  // namespace

std::variant<JobSpec, Problem> parse_job_spec(const nlohmann::json& body) {
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
      spec.params = value;
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
    } else {
      return field_problem("/" + json_pointer_token(key), "unknown field");
    }
  }
  if (spec.kind.empty()) return field_problem("/kind", "is required");
  return spec;
}

}  // namespace jobd::proto
