#include "jobd/proto/frame.hpp"

#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace jobd::proto {
namespace {

using nlohmann::json;

// After a big frame, keep at most this much buffer capacity around, so one
// 16 MiB result does not pin 16 MiB per idle connection forever.
constexpr std::size_t kRetainedBufferCapacity = 64 * 1024;

std::optional<MessageType> message_type_from_byte(std::uint8_t byte) noexcept {
  switch (static_cast<MessageType>(byte)) {
    case MessageType::hello:
    case MessageType::run:
    case MessageType::progress:
    case MessageType::result: return static_cast<MessageType>(byte);
  }
  return std::nullopt;
}

std::uint8_t byte_at(std::span<const std::byte> bytes, std::size_t index) {
  return std::to_integer<std::uint8_t>(bytes[index]);
}

std::uint32_t read_u32_be(std::span<const std::byte> bytes) {
  return (std::uint32_t{byte_at(bytes, 0)} << 24) | (std::uint32_t{byte_at(bytes, 1)} << 16) |
         (std::uint32_t{byte_at(bytes, 2)} << 8) | std::uint32_t{byte_at(bytes, 3)};
}

// ---- encoding ------------------------------------------------------------

json payload_of(const Hello& hello) {
  json payload = json::object();
  payload["pid"] = hello.pid;
  payload["version"] = hello.protocol_version;
  return payload;
}

json payload_of(const Run& run) {
  json payload = json::object();
  payload["job_id"] = run.job_id;
  payload["kind"] = run.kind;
  payload["params"] = run.params;
  payload["deadline_ms"] = run.deadline_ms;
  return payload;
}

json payload_of(const Progress& progress) {
  json payload = json::object();
  payload["job_id"] = progress.job_id;
  payload["fraction"] = progress.fraction;
  payload["text"] = progress.text;
  return payload;
}

json payload_of(const Result& result) {
  json payload = json::object();
  payload["job_id"] = result.job_id;
  const Outcome& outcome = result.outcome;
  payload["ok"] = outcome.ok();
  if (outcome.ok()) {
    payload["result"] = outcome.result;
  } else {
    payload["error_type"] = outcome.error_type;
    payload["error_message"] = outcome.error_message;
  }
  return payload;
}

// ---- payload validation --------------------------------------------------

// A SAX pass that builds nothing and only checks the shape limits the real
// (recursive) CBOR parser cannot be trusted with: nesting depth, and declared
// container sizes that the DOM builder would turn into an exception. Any
// syntax error also ends up here, via parse_error.
class CborShapeCheck final : public json::json_sax_t {
 public:
  explicit CborShapeCheck(std::size_t payload_size) : payload_size_(payload_size) {}

  const std::string& problem() const { return problem_; }

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool key(string_t&) override { return true; }
  bool start_object(std::size_t elements) override { return enter(elements); }
  bool end_object() override { return leave(); }
  bool start_array(std::size_t elements) override { return enter(elements); }
  bool end_array() override { return leave(); }

  bool parse_error(std::size_t position, const std::string&, const json::exception& ex) override {
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

  bool leave() {
    --depth_;
    return true;
  }

  std::size_t payload_size_;
  std::size_t depth_ = 0;
  std::string problem_;
};

// Field accessors for a payload map. Each returns false and describes the
// problem when the field is missing, mistyped or out of range.
class FieldReader {
 public:
  FieldReader(const json& map, std::string& problem) : map_(map), problem_(problem) {}

  bool read(const char* key, std::string& out) {
    const json* value = find(key);
    if (value == nullptr) return false;
    if (!value->is_string()) return wrong_type(key, "a string", *value);
    out = value->get<std::string>();
    return true;
  }

  bool read(const char* key, bool& out) {
    const json* value = find(key);
    if (value == nullptr) return false;
    if (!value->is_boolean()) return wrong_type(key, "a boolean", *value);
    out = value->get<bool>();
    return true;
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
    const json* value = find(key);
    if (value == nullptr) return false;
    out = *value;
    return true;
  }

  bool out_of_range(const char* key, std::string_view why) {
    problem_ = std::string("field \"") + key + "\" " + std::string(why);
    return false;
  }

 private:
  const json* find(const char* key) {
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

  const json& map_;
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
  return result;
}

}  // namespace

std::string_view to_string(MessageType type) noexcept {
  switch (type) {
    case MessageType::hello: return "hello";
    case MessageType::run: return "run";
    case MessageType::progress: return "progress";
    case MessageType::result: return "result";
  }
  return "unknown";
}

std::string_view to_string(DecodeError error) noexcept {
  switch (error) {
    case DecodeError::bad_magic: return "bad magic: stream is not jobd worker protocol";
    case DecodeError::bad_version: return "unsupported protocol version";
    case DecodeError::unknown_type: return "unknown message type";
    case DecodeError::too_large: return "frame payload exceeds the size limit";
    case DecodeError::bad_payload: return "payload is not well-formed CBOR";
    case DecodeError::invalid_message: return "payload fields are missing, mistyped or out of range";
  }
  return "unknown decode error";
}

Result Result::success(std::string job_id, nlohmann::json result) {
  return Result{std::move(job_id), Outcome::success(std::move(result))};
}

Result Result::failure(std::string job_id, std::string error_type, std::string error_message) {
  return Result{std::move(job_id), Outcome::failure(error_type, std::move(error_message))};
}

// type_of() relies on the variant listing its alternatives in MessageType order.
static_assert(std::is_same_v<std::variant_alternative_t<0, Message>, Hello> &&
              MessageType::hello == MessageType{1});
static_assert(std::is_same_v<std::variant_alternative_t<1, Message>, Run> &&
              MessageType::run == MessageType{2});
static_assert(std::is_same_v<std::variant_alternative_t<2, Message>, Progress> &&
              MessageType::progress == MessageType{3});
static_assert(std::is_same_v<std::variant_alternative_t<3, Message>, Result> &&
              MessageType::result == MessageType{4});

MessageType type_of(const Message& message) noexcept { return static_cast<MessageType>(message.index() + 1); }

std::string encode(const Message& message) {
  const std::vector<std::uint8_t> payload =
      json::to_cbor(std::visit([](const auto& m) { return payload_of(m); }, message));
  if (payload.size() > std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("jobd::proto::encode: payload does not fit the u32 length field");
  }
  const auto length = static_cast<std::uint32_t>(payload.size());

  std::string frame;
  frame.reserve(kHeaderSize + payload.size());
  frame.append(kMagic);
  frame.push_back(static_cast<char>(kProtocolVersion));
  frame.push_back(static_cast<char>(type_of(message)));
  frame.push_back(static_cast<char>(length >> 24));
  frame.push_back(static_cast<char>(length >> 16));
  frame.push_back(static_cast<char>(length >> 8));
  frame.push_back(static_cast<char>(length));
  frame.append(reinterpret_cast<const char*>(payload.data()), payload.size());
  return frame;
}

std::variant<Message, DecodeError> decode_payload(MessageType type, std::span<const std::byte> payload,
                                                  std::string* detail) {
  std::string problem;
  const auto fail = [&](DecodeError error) -> std::variant<Message, DecodeError> {
    if (detail != nullptr) *detail = std::move(problem);
    return error;
  };

  const auto* first = reinterpret_cast<const std::uint8_t*>(payload.data());
  const auto* last = first + payload.size();

  CborShapeCheck shape(payload.size());
  if (!json::sax_parse(first, last, &shape, json::input_format_t::cbor, /*strict=*/true)) {
    problem = shape.problem().empty() ? "malformed CBOR" : shape.problem();
    return fail(DecodeError::bad_payload);
  }

  json map;
  try {
    map = json::from_cbor(first, last, /*strict=*/true, /*allow_exceptions=*/false);
  } catch (const json::exception& ex) {
    // Not expected after the shape check, but the DOM builder throws some
    // errors regardless of allow_exceptions; keep them inside.
    problem = ex.what();
    return fail(DecodeError::bad_payload);
  }
  if (map.is_discarded()) {
    problem = "malformed CBOR";
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

FrameDecoder::FrameDecoder(std::uint32_t max_payload_size) noexcept : max_payload_size_(max_payload_size) {}

void FrameDecoder::feed(std::span<const std::byte> bytes) {
  // The connection is about to be dropped; buffering more would only let a
  // misbehaving peer grow our memory.
  if (error_ || bytes.empty()) return;
  // Drop the consumed prefix only once it is at least as long as what
  // remains: each erase then moves no more bytes than it frees, which keeps
  // total copying linear in the bytes received.
  if (read_pos_ > 0 && read_pos_ >= buffer_.size() - read_pos_) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(read_pos_));
    read_pos_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

void FrameDecoder::feed(const char* data, std::size_t size) {
  feed(std::as_bytes(std::span<const char>(data, size)));
}

DecodeResult FrameDecoder::next() {
  if (error_) return *error_;

  const std::span<const std::byte> unread = std::span<const std::byte>(buffer_).subspan(read_pos_);

  // Check each header field as soon as its bytes are in, so a peer speaking
  // the wrong protocol is cut off without waiting for a full header.
  for (std::size_t i = 0; i < kMagic.size() && i < unread.size(); ++i) {
    if (byte_at(unread, i) != static_cast<std::uint8_t>(kMagic[i])) {
      return fail(DecodeError::bad_magic,
                  "byte " + std::to_string(i) + " of frame header is " + std::to_string(byte_at(unread, i)));
    }
  }
  if (unread.size() > 2 && byte_at(unread, 2) != kProtocolVersion) {
    return fail(DecodeError::bad_version, "peer speaks version " + std::to_string(byte_at(unread, 2)) +
                                              ", expected " + std::to_string(kProtocolVersion));
  }
  if (unread.size() > 3 && !message_type_from_byte(byte_at(unread, 3))) {
    return fail(DecodeError::unknown_type, "message type " + std::to_string(byte_at(unread, 3)));
  }
  if (unread.size() < kHeaderSize) return NeedMoreBytes{};

  // The limit is enforced on the declared length, before any payload byte
  // is awaited, so an oversized frame never gets buffered.
  const std::uint32_t payload_size = read_u32_be(unread.subspan(4, 4));
  if (payload_size > max_payload_size_) {
    return fail(DecodeError::too_large, "payload of " + std::to_string(payload_size) + " bytes, limit is " +
                                            std::to_string(max_payload_size_));
  }
  if (unread.size() - kHeaderSize < payload_size) return NeedMoreBytes{};

  const MessageType type = *message_type_from_byte(byte_at(unread, 3));
  std::string detail;
  auto decoded = decode_payload(type, unread.subspan(kHeaderSize, payload_size), &detail);
  // Only now: `unread` points into buffer_, which consume() may release.
  consume(kHeaderSize + payload_size);

  if (auto* error = std::get_if<DecodeError>(&decoded)) return fail(*error, std::move(detail));
  return std::move(std::get<Message>(decoded));
}

DecodeError FrameDecoder::fail(DecodeError error, std::string detail) {
  error_ = error;
  error_detail_ = std::move(detail);
  // Nothing after a framing error can be decoded; free the memory now.
  // (Swap with a fresh vector: assigning {} would keep the capacity.)
  std::vector<std::byte>().swap(buffer_);
  read_pos_ = 0;
  return error;
}

void FrameDecoder::consume(std::size_t frame_size) {
  read_pos_ += frame_size;
  if (read_pos_ < buffer_.size()) return;
  // Everything consumed: reset for free instead of waiting for feed().
  read_pos_ = 0;
  if (buffer_.capacity() > kRetainedBufferCapacity) {
    std::vector<std::byte>().swap(buffer_);
  } else {
    buffer_.clear();
  }
}

}  // namespace jobd::proto
