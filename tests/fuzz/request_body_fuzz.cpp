// libFuzzer target: a POST /v1/jobs body from bytes to a validated job, the path every
// submission takes before any executor sees it: media type + depth + duplicate-key checks and
// JSON parsing (http/json_body), the job spec (proto/job_spec), and the params of a kind
// (proto/params) against a schema with every param type. Must never crash, hang or throw. And
// the text fast path (proto::parse_common_job_spec) must accept only what the DOM path accepts,
// as the same spec: a difference aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "http/json_body.hpp"
#include "jobd/proto/job_spec.hpp"
#include "jobd/proto/params.hpp"

namespace {
const jobd::proto::ParamsSchema& schema() {
  static const jobd::proto::ParamsSchema compiled = [] {
    using jobd::proto::ParamType;
    jobd::proto::ParamsSchema s;
    s.params = {
        {.name = "n", .type = ParamType::integer, .required = true, .minimum = 0, .maximum = 1e9},
        {.name = "name",
         .type = ParamType::string,
         .default_value = "x",
         .max_length = 64,
         .pattern = "[a-z0-9-]+"},
        {.name = "ratio", .type = ParamType::number, .minimum = 0.5, .maximum = 2},
        {.name = "loud", .type = ParamType::boolean},
        {.name = "mode", .type = ParamType::enumeration, .choices = {"fast", "slow"}},
    };
    jobd::proto::compile(s);
    return s;
  }();
  return compiled;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = jobd::http::parse_json_body("application/json", body, 64);
  if (auto fast = jobd::proto::parse_common_job_spec(body)) {
    // The server runs the checks first; the fast path must then agree with the document.
    const auto* json = std::get_if<nlohmann::json>(&parsed);
    if (json == nullptr) {
      if (!jobd::http::check_json_body("application/json", body, 64)) std::abort();
      return 0;
    }
    auto spec = jobd::proto::parse_job_spec(*json);
    const auto* dom = std::get_if<jobd::proto::JobSpec>(&spec);
    if (dom == nullptr || dom->kind != fast->kind || dom->executor != fast->executor ||
        dom->params.dump() != fast->params.dump() || dom->timeout_ms != fast->timeout_ms ||
        dom->idempotency_key != fast->idempotency_key || dom->max_attempts != fast->max_attempts ||
        dom->retry_delay_ms != fast->retry_delay_ms || dom->delay_ms != fast->delay_ms ||
        dom->run_at_ms != fast->run_at_ms) {
      std::abort();
    }
  }
  if (auto* json = std::get_if<nlohmann::json>(&parsed)) {
    auto spec = jobd::proto::parse_job_spec(*json);
    if (auto* job = std::get_if<jobd::proto::JobSpec>(&spec)) {
      (void)jobd::proto::validate_params(schema(), job->params);
    }
    (void)jobd::proto::validate_params(schema(), *json);
  }
  return 0;
}
