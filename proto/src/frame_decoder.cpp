// FrameDecoder: cuts a byte stream into frames (header checks, size limit, buffering) and hands
// each payload to decode_payload(). Shaped like Boost.Redis' readers: feed bytes, then ask for
// the next message until it needs more bytes or fails; it never reads a socket itself.
#include "jobd/proto/frame.hpp"

#include <optional>
#include <string>
#include <utility>

namespace jobd::proto {
namespace {

// After a big frame, keep at most this much buffer capacity around, so one
// 16 MiB result does not pin 16 MiB per idle connection forever.
constexpr std::size_t kRetainedBufferCapacity = std::size_t{64} * 1024;

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

}  // namespace

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
