// The frame format's vocabulary and its encoder: message and error names, the Result
// factories, type_of, and encode() (message -> CBOR payload -> header + payload). Decoding is
// elsewhere: frame_payload.cpp validates one payload, frame_decoder.cpp cuts a byte stream into
// frames. Pure code: never touches a socket.
#include "jobd/proto/frame.hpp"

#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace jobd::proto {
namespace {

using nlohmann::json;

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
    // Only when set: frames of workers from before the flag stay valid.
    if (outcome.retryable) payload["retryable"] = true;
  }
  return payload;
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

Result Result::failure(std::string job_id, std::string_view error_type, std::string error_message) {
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

}  // namespace jobd::proto
