// Payload validation of the frame codec: decode_payload() turns one CBOR payload into a
// Message, or a DecodeError naming the offending field. Everything a peer sends passes through
// here, so it must never throw, recurse without bound or trust a declared size.
#include "jobd/proto/frame.hpp"

#include <limits>
#include <optional>
#include <string>
#include <utility>

namespace jobd::proto {
namespace {

using nlohmann::json;

// The DOM builder of json::from_cbor, with the shape limits the (recursive) CBOR reader cannot
// be trusted with checked as it goes: nesting depth, and declared container sizes that the
// builder would turn into an exception. One pass over the payload: the limits are enforced
// before the reader descends or the builder reserves, as a separate checking pass did.
class CheckedCborBuilder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  CheckedCborBuilder(json& root, std::size_t payload_size)
      : dom_(root, /*allow_exceptions_=*/false), payload_size_(payload_size) {}

  const std::string& problem() const { return problem_; }

  bool null() { return dom_.null(); }
  bool boolean(bool value) { return dom_.boolean(value); }
  bool number_integer(number_integer_t value) { return dom_.number_integer(value); }
  bool number_unsigned(number_unsigned_t value) { return dom_.number_unsigned(value); }
  bool number_float(number_float_t value, const string_t& text) { return dom_.number_float(value, text); }
  bool string(string_t& value) { return dom_.string(value); }
  bool binary(binary_t& value) { return dom_.binary(value); }
  bool key(string_t& value) { return dom_.key(value); }
  bool start_object(std::size_t elements) { return enter(elements) && dom_.start_object(elements); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t elements) { return enter(elements) && dom_.start_array(elements); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }

  template <class Exception>
  bool parse_error(std::size_t position, const std::string&, const Exception& ex) {
    problem_ = "malformed CBOR at byte " + std::to_string(position) + ": " + ex.what();
    return false;
  }

 private:
  static constexpr std::size_t kIndefinite = static_cast<std::size_t>(-1);

  bool enter(std::size_t elements) {
    if (++depth_ > kMaxPayloadNestingDepth) {
      problem_ = "CBOR nests deeper than " + std::to_string(kMaxPayloadNestingDepth);
      return false;
    }
    // Every element takes at least one byte, so a larger count is a lie
    // (and one the DOM builder would throw on).
    if (elements != kIndefinite && elements > payload_size_) {
      problem_ = "CBOR container claims " + std::to_string(elements) + " elements in a " +
                 std::to_string(payload_size_) + " byte payload";
      return false;
    }
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::size_t payload_size_;
  std::size_t depth_ = 0;
  std::string problem_;
};

// Field accessors for a payload map. Each returns false and describes the
// problem when the field is missing, mistyped or out of range.
class FieldReader {
 public:
  // Reads move the values out of `map`: decode_payload drops it afterwards.
  FieldReader(json& map, std::string& problem) : map_(map), problem_(problem) {}

  bool read(const char* key, std::string& out) {
    json* value = find(key);
    if (value == nullptr) return false;
    if (!value->is_string()) return wrong_type(key, "a string", *value);
    out = std::move(value->get_ref<std::string&>());
    return true;
  }

  bool read(const char* key, bool& out) {
    const json* value = find(key);
    if (value == nullptr) return false;
    if (!value->is_boolean()) return wrong_type(key, "a boolean", *value);
    out = value->get<bool>();
    return true;
  }

  // A field that may be absent (it keeps its value then); present, it must be a boolean.
  bool read_optional(const char* key, bool& out) {
    if (!map_.contains(key)) return true;
    return read(key, out);
  }

  bool read(const char* key, std::int64_t& out) {
    const json* value = find(key);
    if (value == nullptr) return false;
    if (!value->is_number_integer()) return wrong_type(key, "an integer", *value);
    // CBOR carries non-negative integers as unsigned 64-bit, so the top
    // half of their range does not fit.
    if (value->is_number_unsigned() &&
        value->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return out_of_range(key, "does not fit in int64");
    }
    out = value->get<std::int64_t>();
    return true;
  }

  bool read(const char* key, double& out) {
    const json* value = find(key);
    if (value == nullptr) return false;
    if (!value->is_number()) return wrong_type(key, "a number", *value);
    out = value->get<double>();
    return true;
  }

  bool read(const char* key, json& out) {
    json* value = find(key);
    if (value == nullptr) return false;
    out = std::move(*value);
    return true;
  }

  bool out_of_range(const char* key, std::string_view why) {
    problem_ = std::string("field \"") + key + "\" " + std::string(why);
    return false;
  }

 private:
  json* find(const char* key) {
    const auto it = map_.find(key);
    if (it == map_.end()) {
      problem_ = std::string("missing field \"") + key + "\"";
      return nullptr;
    }
    return &*it;
  }

  bool wrong_type(const char* key, std::string_view expected, const json& got) {
    problem_ =
        std::string("field \"") + key + "\" must be " + std::string(expected) + ", got " + got.type_name();
    return false;
  }

  json& map_;
  std::string& problem_;
};

std::optional<Message> hello_from(FieldReader& fields) {
  Hello hello;
  std::int64_t version = 0;
  if (!fields.read("pid", hello.pid) || !fields.read("version", version)) return std::nullopt;
  if (version < 0 || version > std::numeric_limits<std::uint8_t>::max()) {
    fields.out_of_range("version", "is outside 0..255");
    return std::nullopt;
  }
  hello.protocol_version = static_cast<std::uint8_t>(version);
  return hello;
}

std::optional<Message> run_from(FieldReader& fields) {
  Run run;
  if (!fields.read("job_id", run.job_id) || !fields.read("kind", run.kind) ||
      !fields.read("params", run.params) || !fields.read("deadline_ms", run.deadline_ms)) {
    return std::nullopt;
  }
  if (run.deadline_ms < 0) {
    fields.out_of_range("deadline_ms", "is negative (0 means no deadline)");
    return std::nullopt;
  }
  return run;
}

std::optional<Message> progress_from(FieldReader& fields) {
  Progress progress;
  if (!fields.read("job_id", progress.job_id) || !fields.read("fraction", progress.fraction) ||
      !fields.read("text", progress.text)) {
    return std::nullopt;
  }
  // Written as a negated range test so that NaN is rejected too.
  if (!(progress.fraction >= 0.0 && progress.fraction <= 1.0)) {
    fields.out_of_range("fraction", "is outside [0, 1]");
    return std::nullopt;
  }
  return progress;
}

std::optional<Message> result_from(FieldReader& fields) {
  Result result;
  bool ok = false;
  if (!fields.read("job_id", result.job_id) || !fields.read("ok", ok)) return std::nullopt;
  Outcome& outcome = result.outcome;
  outcome.state = ok ? JobState::succeeded : JobState::failed;
  const bool fields_ok = ok ? fields.read("result", outcome.result)
                            : fields.read("error_type", outcome.error_type) &&
                                  fields.read("error_message", outcome.error_message);
  if (!fields_ok) return std::nullopt;
  if (!ok && !fields.read_optional("retryable", outcome.retryable)) return std::nullopt;
  return result;
}

}  // namespace

std::variant<Message, DecodeError> decode_payload(MessageType type, std::span<const std::byte> payload,
                                                  std::string* detail) {
  std::string problem;
  const auto fail = [&](DecodeError error) -> std::variant<Message, DecodeError> {
    if (detail != nullptr) *detail = std::move(problem);
    return error;
  };

  const auto* first = reinterpret_cast<const std::uint8_t*>(payload.data());
  const auto* last = first + payload.size();

  json map;
  try {
    CheckedCborBuilder builder(map, payload.size());
    if (!json::sax_parse(first, last, &builder, json::input_format_t::cbor, /*strict=*/true)) {
      problem = builder.problem().empty() ? "malformed CBOR" : builder.problem();
      return fail(DecodeError::bad_payload);
    }
  } catch (const json::exception& ex) {
    // Not expected within the limits checked, but the DOM builder throws some errors
    // regardless of allow_exceptions; keep them inside.
    problem = ex.what();
    return fail(DecodeError::bad_payload);
  }
  if (!map.is_object()) {
    problem = std::string("payload must be a CBOR map, got ") + map.type_name();
    return fail(DecodeError::invalid_message);
  }

  FieldReader fields(map, problem);
  std::optional<Message> message;
  switch (type) {
    case MessageType::hello: message = hello_from(fields); break;
    case MessageType::run: message = run_from(fields); break;
    case MessageType::progress: message = progress_from(fields); break;
    case MessageType::result: message = result_from(fields); break;
    default:
      problem = "message type " + std::to_string(static_cast<unsigned>(type));
      return fail(DecodeError::unknown_type);
  }
  if (!message) {
    problem = std::string(to_string(type)) + ": " + problem;
    return fail(DecodeError::invalid_message);
  }
  return std::move(*message);
}

}  // namespace jobd::proto
