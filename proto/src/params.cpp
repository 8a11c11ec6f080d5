#include "jobd/proto/params.hpp"

#include "jobd/proto/problem.hpp"

#include <cmath>
#include <stdexcept>

namespace jobd::proto {

namespace {

constexpr std::string_view kTypeNames[] = {"string", "integer", "number", "boolean", "enum"};

std::string pointer_of(const ParamSpec& spec) { return "/params/" + spec.name; }

std::string number_text(double value) {
  if (std::floor(value) == value && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<long long>(value));
  }
  return nlohmann::json(value).dump();
}

std::optional<ParamError> check_bounds(const ParamSpec& spec, double value) {
  if (spec.minimum && value < *spec.minimum) {
    return ParamError{pointer_of(spec), "must be >= " + number_text(*spec.minimum)};
  }
  if (spec.maximum && value > *spec.maximum) {
    return ParamError{pointer_of(spec), "must be <= " + number_text(*spec.maximum)};
  }
  return std::nullopt;
}

std::optional<ParamError> check_value(const ParamSpec& spec, const nlohmann::json& value) {
  auto wrong_type = [&](std::string_view expected) {
    return ParamError{pointer_of(spec), "must be " + std::string(expected)};
  };
  switch (spec.type) {
    case ParamType::string: {
      if (!value.is_string()) return wrong_type("a string");
      const auto& text = value.get_ref<const std::string&>();
      if (text.size() > spec.max_length) {
        return ParamError{pointer_of(spec), "must be at most " + std::to_string(spec.max_length) + " bytes"};
      }
      if (spec.compiled && !std::regex_match(text, *spec.compiled)) {
        return ParamError{pointer_of(spec), "must match " + spec.pattern.value_or("")};
      }
      return std::nullopt;
    }
    case ParamType::integer:
      // Integers too large for int64 parse as doubles; they are refused here as well.
      if (!value.is_number_integer()) return wrong_type("an integer");
      if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
        return wrong_type("an integer within 64 bits");
      }
      return check_bounds(spec, static_cast<double>(value.get<std::int64_t>()));
    case ParamType::number:
      if (!value.is_number()) return wrong_type("a number");
      return check_bounds(spec, value.get<double>());
    case ParamType::boolean:
      if (!value.is_boolean()) return wrong_type("a boolean");
      return std::nullopt;
    case ParamType::enumeration: {
      if (value.is_string()) {
        for (const auto& choice : spec.choices) {
          if (choice == value.get_ref<const std::string&>()) return std::nullopt;
        }
      }
      std::string allowed;
      for (const auto& choice : spec.choices) allowed += (allowed.empty() ? "" : ", ") + choice;
      return ParamError{pointer_of(spec), "must be one of: " + allowed};
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(ParamType type) noexcept { return kTypeNames[static_cast<int>(type)]; }

std::optional<ParamType> parse_param_type(std::string_view text) noexcept {
  for (int i = 0; i < 5; ++i) {
    if (kTypeNames[i] == text) return static_cast<ParamType>(i);
  }
  return std::nullopt;
}

void compile(ParamsSchema& schema) {
  for (auto& spec : schema.params) {
    if (!spec.pattern) continue;
    try {
      spec.compiled = std::make_shared<const std::regex>(*spec.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument("param '" + spec.name + "': bad pattern: " + e.what());
    }
  }
}

namespace {

// What params.dump().size() is, counted without building the text: one serializer per thread
// writing to a counter (dump() allocates its adapter, an indent string and the text per call).
class Counter final : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  void write_character(char) override { ++size; }
  void write_characters(const char*, std::size_t length) override { size += length; }
  std::size_t size = 0;
};

std::size_t serialized_size(const nlohmann::json& value) {
  thread_local Counter counter;
  // The aliasing constructor: points at the counter, owns nothing (no control block).
  thread_local nlohmann::detail::serializer<nlohmann::json> serializer(
      nlohmann::detail::output_adapter_t<char>(std::shared_ptr<void>(), &counter), ' ');
  counter.size = 0;
  serializer.dump(value, false, false, 0);
  return counter.size;
}

template <class Json>
std::variant<nlohmann::json, ParamError> validate(const ParamsSchema& schema, Json&& params) {
  if (params.is_null() && !schema.free_form) return validate(schema, nlohmann::json::object());
  if (!params.is_object()) return ParamError{"/params", "must be an object"};
  if (schema.free_form) {
    // Serialized size bounds what a free-form job may carry into the table and its result.
    if (serialized_size(params) > schema.max_free_form_bytes) {
      return ParamError{"/params",
                        "must serialize to at most " + std::to_string(schema.max_free_form_bytes) + " bytes"};
    }
    return std::forward<Json>(params);
  }
  for (const auto& [key, value] : params.items()) {
    bool declared = false;
    for (const auto& spec : schema.params) declared = declared || spec.name == key;
    if (!declared) return ParamError{"/params/" + json_pointer_token(key), "unknown parameter"};
  }
  nlohmann::json normalized = nlohmann::json::object();
  for (const auto& spec : schema.params) {
    auto it = params.find(spec.name);
    if (it == params.end()) {
      if (spec.required) return ParamError{pointer_of(spec), "is required"};
      if (spec.default_value) normalized[spec.name] = *spec.default_value;
      continue;
    }
    if (auto error = check_value(spec, *it)) return *error;
    normalized[spec.name] = *it;
  }
  if (schema.check) {
    if (auto error = schema.check(normalized)) return *error;
  }
  return normalized;
}

}  // namespace

std::variant<nlohmann::json, ParamError> validate_params(const ParamsSchema& schema,
                                                         const nlohmann::json& params) {
  return validate(schema, params);
}

std::variant<nlohmann::json, ParamError> validate_params(const ParamsSchema& schema,
                                                         nlohmann::json&& params) {
  return validate(schema, std::move(params));
}

nlohmann::json to_json_schema(const ParamsSchema& schema) {
  nlohmann::json out = {{"type", "object"}};
  if (schema.free_form) return out;
  out["additionalProperties"] = false;
  nlohmann::json properties = nlohmann::json::object();
  nlohmann::json required = nlohmann::json::array();
  for (const auto& spec : schema.params) {
    nlohmann::json property;
    switch (spec.type) {
      case ParamType::enumeration:
        property["type"] = "string";
        property["enum"] = spec.choices;
        break;
      case ParamType::string:
        property["type"] = "string";
        property["maxLength"] = spec.max_length;
        if (spec.pattern) property["pattern"] = *spec.pattern;
        break;
      default:
        property["type"] = to_string(spec.type);
        if (spec.minimum) property["minimum"] = *spec.minimum;
        if (spec.maximum) property["maximum"] = *spec.maximum;
        break;
    }
    if (!spec.description.empty()) property["description"] = spec.description;
    if (spec.default_value) property["default"] = *spec.default_value;
    if (spec.required) required.push_back(spec.name);
    properties[spec.name] = std::move(property);
  }
  out["properties"] = std::move(properties);
  if (!required.empty()) out["required"] = std::move(required);
  return out;
}

}  // namespace jobd::proto
