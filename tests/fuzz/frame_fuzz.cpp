// libFuzzer target for the worker-protocol frame decoder.
//
// Input layout:
//   byte 0    payload limit: odd -> kDefaultMaxPayloadSize, even -> byte * 4
//             (small limits make the too_large path reachable with small inputs)
//   byte 1    seed for the chunk sizes the stream is fed in
//   byte 2..  the byte stream, as if read from the worker socket
//
// Beyond "no crash, no sanitizer report", it checks properties that must hold
// for any input:
//   - chunking does not matter: feeding the stream whole or in random pieces
//     yields the same messages and the same final state;
//   - an error is sticky;
//   - every decoded message re-encodes to a frame that decodes back to it.
//
// Build with -D_GLIBCXX_SANITIZE_VECTOR on every translation unit so ASan also
// sees reads past the end of the decoder's std::vector buffer (within its
// capacity), not just past the end of heap blocks.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "jobd/proto/frame.hpp"

namespace {

using namespace jobd::proto;

void check(bool condition) {
  if (!condition) std::abort();
}

// What the decoder produced: encoded messages, then "need more" or an error.
struct Decoded {
  std::vector<std::string> messages;
  std::optional<DecodeError> error;

  bool operator==(const Decoded&) const = default;
};

// Pulls everything decodable right now. Returns false once the decoder failed.
bool drain(FrameDecoder& decoder, Decoded& outcome) {
  for (;;) {
    DecodeResult result = decoder.next();
    if (std::holds_alternative<NeedMoreBytes>(result)) return true;
    if (const auto* error = std::get_if<DecodeError>(&result)) {
      outcome.error = *error;
      // Sticky: asking again, or feeding more, changes nothing.
      check(decoder.next() == result);
      decoder.feed("JB\x01\x01\0\0\0\0", 8);
      check(decoder.next() == result);
      check(decoder.buffered_size() == 0);
      return false;
    }
    outcome.messages.push_back(encode(std::get<Message>(result)));
  }
}

Decoded decode_whole(std::span<const std::byte> stream, std::uint32_t limit) {
  FrameDecoder decoder(limit);
  Decoded outcome;
  decoder.feed(stream);
  drain(decoder, outcome);
  return outcome;
}

Decoded decode_in_chunks(std::span<const std::byte> stream, std::uint32_t limit, std::uint32_t seed) {
  FrameDecoder decoder(limit);
  Decoded outcome;
  std::uint32_t state = seed * 2654435761u + 1;  // never 0, as xorshift requires
  while (!stream.empty()) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    // Mostly tiny pieces (to hit every split point), sometimes larger ones.
    const std::size_t chunk = (state & 0x80) ? 1 + (state >> 8) % 512 : 1 + (state >> 8) % 4;
    const std::size_t taken = std::min(chunk, stream.size());
    // Copy into an exactly sized heap block so ASan catches reads past it.
    std::vector<std::byte> piece(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(taken));
    decoder.feed(piece);
    stream = stream.subspan(taken);
    if (!drain(decoder, outcome)) break;
  }
  return outcome;
}

void check_reencoding_is_stable(const std::string& frame) {
  FrameDecoder decoder(std::numeric_limits<std::uint32_t>::max());
  decoder.feed(frame.data(), frame.size());
  DecodeResult again = decoder.next();
  check(std::holds_alternative<Message>(again));
  check(encode(std::get<Message>(again)) == frame);
  check(std::holds_alternative<NeedMoreBytes>(decoder.next()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint32_t limit = (data[0] & 1) ? kDefaultMaxPayloadSize : std::uint32_t{data[0]} * 4;
  const std::uint32_t seed = data[1];
  const auto stream = std::as_bytes(std::span<const std::uint8_t>(data + 2, size - 2));

  const Decoded whole = decode_whole(stream, limit);
  const Decoded chunked = decode_in_chunks(stream, limit, seed);
  check(whole == chunked);
  for (const std::string& frame : whole.messages) check_reencoding_is_stable(frame);

  // The payload decoder on its own, over the exact input bytes (no header).
  std::string detail;
  (void)decode_payload(static_cast<MessageType>(seed % 6), stream, &detail);
  return 0;
}
