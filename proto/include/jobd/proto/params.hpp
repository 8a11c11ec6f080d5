// Declared parameters of a job kind: one model for built-in kinds and for the subprocess
// kinds of the config file. It validates a job's `params` (naming the bad field by JSON
// pointer), fills defaults, and renders the JSON Schema that GET /v1/kinds shows.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <variant>
#include <vector>

namespace jobd::proto {

enum class ParamType { string, integer, number, boolean, enumeration };

std::string_view to_string(ParamType type) noexcept;
std::optional<ParamType> parse_param_type(std::string_view text) noexcept;

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::string;
  std::string description;
  bool required = false;
  std::optional<nlohmann::json> default_value;
  std::optional<double> minimum;       // integer, number
  std::optional<double> maximum;       // integer, number
  std::size_t max_length = 65536;      // string; always bounded
  std::optional<std::string> pattern;  // string: ECMAScript regex the whole value must match
  std::vector<std::string> choices;    // enumeration

  // Compiled `pattern`; set by compile(). Shared so specs stay cheap to copy.
  std::shared_ptr<const std::regex> compiled;
};

struct ParamError {
  std::string pointer;  // e.g. "/params/n"
  std::string message;
};

struct ParamsSchema {
  std::vector<ParamSpec> params;
  // A free-form object: any JSON object is accepted as is (the `echo` kind).
  bool free_form = false;
  // Upper bound on the serialized size of free-form params.
  std::size_t max_free_form_bytes = 1 << 20;
  // A rule of the schema's owner beyond the per-field checks (the subprocess config: argv
  // safety, base64 input, fields that exclude each other). Runs on the normalized params after
  // them; returns the error naming the bad field.
  std::function<std::optional<ParamError>(const nlohmann::json& params)> check;
};

// Compiles every pattern. Throws std::invalid_argument naming the param on a bad regex:
// schemas come from code or the operator's config, and a bad one must stop start-up.
void compile(ParamsSchema& schema);

// Validates `params` against the schema; on success returns them with defaults filled in.
// Unknown fields are refused (a typo must not silently fall back to a default).
std::variant<nlohmann::json, ParamError> validate_params(const ParamsSchema& schema,
                                                         const nlohmann::json& params);
// The same, taking `params` over: free-form params are returned as they came, not copied.
std::variant<nlohmann::json, ParamError> validate_params(const ParamsSchema& schema, nlohmann::json&& params);

// JSON Schema (draft 2020-12 subset) describing the params object.
nlohmann::json to_json_schema(const ParamsSchema& schema);

}  // namespace jobd::proto
