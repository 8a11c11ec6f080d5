// Inputs shared by the frame codec's unit tests: one message of every type, frames built by
// hand (to produce bytes encode() never would), and a one-shot decode.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jobd/proto/frame.hpp"

namespace jobd::proto {

using nlohmann::json;

// One message of every type, with non-trivial contents.
inline std::vector<Message> sample_messages() {
  return {
      Hello{.pid = 4242, .protocol_version = kProtocolVersion},
      proto::Run{.job_id = "job-7f3a",
                 .kind = "thumbnail",
                 .params = json{{"width", 320},
                                {"formats", {"png", "webp"}},
                                {"quality", 0.85},
                                {"nested", {{"a", nullptr}}}},
                 .deadline_ms = 1'700'000'000'123},
      Progress{.job_id = "job-7f3a", .fraction = 0.5, .text = "halfway, caf\xc3\xa9"},
      Result::success("job-7f3a", json{{"bytes", 12345}, {"path", "/tmp/x.png"}}),
      Result::failure("job-7f3a", "ValueError", "width must be positive"),
  };
}

inline std::string frames_of(const std::vector<Message>& messages) {
  std::string stream;
  for (const Message& message : messages) stream += encode(message);
  return stream;
}

// A frame built by hand, to produce inputs encode() never would.
inline std::string raw_frame(std::uint8_t type, const std::vector<std::uint8_t>& payload,
                             std::uint8_t version = kProtocolVersion, std::string_view magic = kMagic) {
  std::string frame(magic);
  frame.push_back(static_cast<char>(version));
  frame.push_back(static_cast<char>(type));
  const auto length = static_cast<std::uint32_t>(payload.size());
  for (int shift = 24; shift >= 0; shift -= 8) frame.push_back(static_cast<char>(length >> shift));
  frame.append(payload.begin(), payload.end());
  return frame;
}

inline std::string raw_frame(MessageType type, const json& payload) {
  return raw_frame(static_cast<std::uint8_t>(type), json::to_cbor(payload));
}

// Header only, declaring `length` payload bytes.
inline std::string header_claiming(std::uint32_t length, MessageType type = MessageType::run) {
  std::string header = raw_frame(static_cast<std::uint8_t>(type), {});
  for (int i = 0; i < 4; ++i) header[4 + i] = static_cast<char>(length >> (24 - 8 * i));
  return header;
}

inline DecodeResult decode_one(const std::string& bytes, std::uint32_t limit = kDefaultMaxPayloadSize) {
  FrameDecoder decoder(limit);
  decoder.feed(bytes.data(), bytes.size());
  return decoder.next();
}

inline bool needs_more(const DecodeResult& result) { return std::holds_alternative<NeedMoreBytes>(result); }

}  // namespace jobd::proto
