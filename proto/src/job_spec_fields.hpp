// The members of a POST /v1/jobs body, each checked and set on the spec in one place, shared by
// the DOM parse (job_spec.cpp) and the text fast path (job_spec_text.cpp): both must accept and
// refuse the same values the same way.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "jobd/proto/job_spec.hpp"

namespace jobd::proto::detail {

enum class Field {
  kind,
  executor,
  params,
  timeout_ms,
  idempotency_key,
  max_attempts,
  retry_delay_ms,
  delay_ms,
  run_at,
  unknown
};

Field field_of(std::string_view key) noexcept;
// Whether the field's value is a JSON string (kind, executor, idempotency_key, run_at).
bool is_text_field(Field field) noexcept;
// A text field set from its value, or its problem; `value` is null when the member is not a
// string. The Problem is built only on refusal: an accepted value allocates nothing.
std::optional<Problem> set_text_field(JobSpec& spec, Field field, const std::string_view* value);
// A number field (timeout_ms, max_attempts, retry_delay_ms, delay_ms) set from its value.
std::optional<Problem> set_number_field(JobSpec& spec, Field field, const nlohmann::json& value);
// The checks made once every member is in.
std::optional<Problem> check_spec(const JobSpec& spec);

}  // namespace jobd::proto::detail
