// Wire codec for the frames exchanged between the jobd server and its
// preforked worker processes. Sans-I/O: this code only turns messages into
// bytes and bytes into messages; reading and writing the socketpair is the
// caller's business.
//
// Frame layout (integers big-endian):
//
//   offset 0   2 bytes   magic "JB"
//   offset 2   u8        protocol version (kProtocolVersion)
//   offset 3   u8        MessageType
//   offset 4   u32       payload length in bytes
//   offset 8   payload   one CBOR map (nlohmann::json::to_cbor)
//
// Payload keys per message type:
//   Hello     {"pid": int, "version": uint}
//   Run       {"job_id": str, "kind": str, "params": any, "deadline_ms": int}
//   Progress  {"job_id": str, "fraction": number, "text": str}
//   Result    {"job_id": str, "ok": true,  "result": any}
//             {"job_id": str, "ok": false, "error_type": str, "error_message": str}
// Keys the decoder does not know are ignored, so a newer peer can add fields
// without bumping the protocol version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "jobd/proto/outcome.hpp"

namespace jobd::proto {

inline constexpr std::string_view kMagic = "JB";
inline constexpr std::uint8_t kProtocolVersion = 1;
inline constexpr std::size_t kHeaderSize = 8;

// Largest payload a FrameDecoder accepts unless configured otherwise. The
// decoder rejects a larger frame as soon as its header arrives, so a peer
// cannot make us buffer more than this per connection.
inline constexpr std::uint32_t kDefaultMaxPayloadSize = 16u * 1024u * 1024u;

// Deepest CBOR nesting accepted in a payload, counting the payload map itself
// as depth 1. The CBOR parser recurses once per level, so without this bound a
// payload of nested one-element arrays would overflow the stack. Whatever
// accepts job params from outside (the HTTP layer) must bound their depth
// below this, or such a job will be refused by the worker.
inline constexpr std::size_t kMaxPayloadNestingDepth = 256;

enum class MessageType : std::uint8_t {
  hello = 1,     // worker -> server, once, right after fork
  run = 2,       // server -> worker
  progress = 3,  // worker -> server, any number while a job runs
  result = 4,    // worker -> server, exactly once per Run
};

std::string_view to_string(MessageType type) noexcept;

struct Hello {
  std::int64_t pid = 0;
  // The version the worker speaks. Informational: the frame header already
  // carries the version the decoder enforces.
  std::uint8_t protocol_version = kProtocolVersion;

  friend bool operator==(const Hello&, const Hello&) = default;
};

struct Run {
  std::string job_id;
  std::string kind;
  nlohmann::json params;
  // Absolute deadline in milliseconds since the epoch of the clock both
  // ends agree on (they share a host; steady_clock is CLOCK_MONOTONIC and
  // therefore comparable across processes). 0 = no deadline. Never negative.
  std::int64_t deadline_ms = 0;

  friend bool operator==(const Run&, const Run&) = default;
};

struct Progress {
  std::string job_id;
  double fraction = 0.0;  // in [0, 1]; the decoder rejects anything else, NaN included
  std::string text;

  friend bool operator==(const Progress&, const Progress&) = default;
};

struct Result {
  std::string job_id;
  // On the wire: {"ok": true, "result": ...} or {"ok": false, "error_type", "error_message"};
  // a worker reports only succeeded or failed (a stop is jobd's doing, not the worker's).
  Outcome outcome;

  static Result success(std::string job_id, nlohmann::json result);
  static Result failure(std::string job_id, std::string_view error_type, std::string error_message);

  friend bool operator==(const Result&, const Result&) = default;
};

using Message = std::variant<Hello, Run, Progress, Result>;

MessageType type_of(const Message& message) noexcept;

// Header + payload, ready to write to the socket. Writes the fields as given:
// it is the receiving decoder that validates ranges (fraction, deadline_ms)
// and its size limit. Throws std::length_error only if the CBOR payload
// exceeds what the u32 length field can express (4 GiB).
std::string encode(const Message& message);

enum class DecodeError : std::uint8_t {
  bad_magic,        // first bytes are not "JB": not our protocol, or the stream lost sync
  bad_version,      // peer speaks another protocol version
  unknown_type,     // message type byte is not a MessageType
  too_large,        // declared payload length exceeds the decoder's limit
  bad_payload,      // payload is not exactly one well-formed CBOR item, or nests too deep
  invalid_message,  // well-formed CBOR, but not a map or a field is missing, mistyped or out of range
};

std::string_view to_string(DecodeError error) noexcept;

// Decodes and validates one payload (without header). Never throws on bad
// input. When decoding fails and `detail` is non-null, it receives a
// human-readable reason naming the offending field, for logs.
std::variant<Message, DecodeError> decode_payload(MessageType type, std::span<const std::byte> payload,
                                                  std::string* detail = nullptr);

struct NeedMoreBytes {
  friend bool operator==(NeedMoreBytes, NeedMoreBytes) = default;
};

using DecodeResult = std::variant<NeedMoreBytes, Message, DecodeError>;

// Incremental decoder for one connection. Usage: after every read, feed() the
// bytes, then call next() until it returns NeedMoreBytes or a DecodeError.
//
// Errors are final: once next() has returned a DecodeError it returns that
// same error forever and feed() discards its input, because after a framing
// error there is no way to find the next frame boundary; drop the connection.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::uint32_t max_payload_size = kDefaultMaxPayloadSize) noexcept;

  void feed(std::span<const std::byte> bytes);
  void feed(const char* data, std::size_t size);

  DecodeResult next();

  std::optional<DecodeError> error() const noexcept { return error_; }
  // Why the last error happened (e.g. which field was wrong); empty if none.
  std::string_view error_detail() const noexcept { return error_detail_; }
  // Bytes received but not yet consumed as a complete frame.
  std::size_t buffered_size() const noexcept { return buffer_.size() - read_pos_; }
  std::uint32_t max_payload_size() const noexcept { return max_payload_size_; }

 private:
  DecodeError fail(DecodeError error, std::string detail);
  void consume(std::size_t frame_size);

  std::uint32_t max_payload_size_;
  // Received bytes; [read_pos_, end) is unconsumed. Consumed bytes are
  // dropped lazily (see feed) instead of erasing the front on every frame.
  std::vector<std::byte> buffer_;
  std::size_t read_pos_ = 0;
  std::optional<DecodeError> error_;
  std::string error_detail_;
};

}  // namespace jobd::proto
