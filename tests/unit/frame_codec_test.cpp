// encode(): the header layout and payload keys, and every message surviving a round trip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "frame_samples.hpp"

namespace jobd::proto {
namespace {

// ---- encoding --------------------------------------------------------------

TEST(FrameEncode, HeaderIsMagicVersionTypeThenBigEndianPayloadLength) {
  const std::string frame = encode(Hello{.pid = 1, .protocol_version = 1});
  ASSERT_GE(frame.size(), kHeaderSize);
  EXPECT_EQ(frame.substr(0, 2), "JB");
  EXPECT_EQ(static_cast<std::uint8_t>(frame[2]), kProtocolVersion);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[3]), static_cast<std::uint8_t>(MessageType::hello));
  const std::uint32_t length = (std::uint32_t{static_cast<std::uint8_t>(frame[4])} << 24) |
                               (std::uint32_t{static_cast<std::uint8_t>(frame[5])} << 16) |
                               (std::uint32_t{static_cast<std::uint8_t>(frame[6])} << 8) |
                               std::uint32_t{static_cast<std::uint8_t>(frame[7])};
  EXPECT_EQ(length, frame.size() - kHeaderSize);
}

TEST(FrameEncode, LengthFieldIsBigEndianForPayloadsAbove255Bytes) {
  const std::string frame = encode(Progress{.job_id = "j", .fraction = 0, .text = std::string(70'000, 'x')});
  const std::size_t length = frame.size() - kHeaderSize;
  EXPECT_EQ(static_cast<std::uint8_t>(frame[4]), 0);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[5]), (length >> 16) & 0xff);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[6]), (length >> 8) & 0xff);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[7]), length & 0xff);
}

TEST(FrameEncode, EachMessageTypeGetsItsTypeByte) {
  for (const Message& message : sample_messages()) {
    EXPECT_EQ(static_cast<std::uint8_t>(encode(message)[3]), static_cast<std::uint8_t>(type_of(message)));
  }
  EXPECT_EQ(type_of(Hello{}), MessageType::hello);
  EXPECT_EQ(type_of(proto::Run{}), MessageType::run);
  EXPECT_EQ(type_of(Progress{}), MessageType::progress);
  EXPECT_EQ(type_of(Result{}), MessageType::result);
}

TEST(FrameEncode, SuccessfulResultCarriesResultButNoErrorFields) {
  const std::string frame = encode(Result::success("j", json{1, 2}));
  const json payload = json::from_cbor(frame.substr(kHeaderSize));
  EXPECT_EQ(payload, (json{{"job_id", "j"}, {"ok", true}, {"result", {1, 2}}}));
}

TEST(FrameEncode, FailedResultCarriesErrorFieldsButNoResult) {
  const std::string frame = encode(Result::failure("j", "Timeout", "took too long"));
  const json payload = json::from_cbor(frame.substr(kHeaderSize));
  EXPECT_EQ(
      payload,
      (json{{"job_id", "j"}, {"ok", false}, {"error_type", "Timeout"}, {"error_message", "took too long"}}));
}

TEST(FrameEncode, ARetryableFailureSaysSoAndOnlyThen) {
  Result result{"j", Outcome::retryable_failure("flaky")};
  const json payload = json::from_cbor(encode(result).substr(kHeaderSize));
  EXPECT_EQ(payload["retryable"], true);
  const DecodeResult decoded = decode_one(encode(result));
  ASSERT_TRUE(std::holds_alternative<Message>(decoded));
  EXPECT_TRUE(std::get<Result>(std::get<Message>(decoded)).outcome.retryable);
  // A worker from before the flag sends none: not retryable.
  const json plain = json::from_cbor(encode(Result::failure("j", "kind-failed", "x")).substr(kHeaderSize));
  EXPECT_FALSE(plain.contains("retryable"));
}

// ---- round trips -----------------------------------------------------------

TEST(FrameRoundTrip, EveryMessageTypeDecodesToTheMessageEncoded) {
  for (const Message& message : sample_messages()) {
    const DecodeResult decoded = decode_one(encode(message));
    ASSERT_TRUE(std::holds_alternative<Message>(decoded)) << to_string(type_of(message));
    EXPECT_EQ(std::get<Message>(decoded), message) << to_string(type_of(message));
  }
}

TEST(FrameRoundTrip, ExtremeButValidFieldValuesSurvive) {
  const std::vector<Message> messages = {
      Hello{.pid = std::numeric_limits<std::int64_t>::min(), .protocol_version = 255},
      Hello{.pid = std::numeric_limits<std::int64_t>::max(), .protocol_version = 0},
      proto::Run{.job_id = "",
                 .kind = "",
                 .params = nullptr,
                 .deadline_ms = std::numeric_limits<std::int64_t>::max()},
      proto::Run{.job_id = "j", .kind = "k", .params = json::binary({1, 2, 3}), .deadline_ms = 0},
      Progress{.job_id = "j", .fraction = 0.0, .text = ""},
      Progress{.job_id = "j", .fraction = 1.0, .text = std::string("nul\0inside", 10)},
      Result::success("j", nullptr),
      Result::failure("j", "", ""),
  };
  for (const Message& message : messages) {
    const DecodeResult decoded = decode_one(encode(message));
    ASSERT_TRUE(std::holds_alternative<Message>(decoded));
    EXPECT_EQ(std::get<Message>(decoded), message);
  }
}

TEST(FrameRoundTrip, PayloadOfSeveralMegabytesFedIn4KiBChunksDecodes) {
  const Message message =
      proto::Run{.job_id = "big", .kind = "k", .params = std::string(3 << 20, 'p'), .deadline_ms = 0};
  const std::string frame = encode(message);
  FrameDecoder decoder;
  for (std::size_t offset = 0; offset < frame.size(); offset += 4096) {
    ASSERT_TRUE(needs_more(decoder.next()));
    decoder.feed(frame.data() + offset, std::min<std::size_t>(4096, frame.size() - offset));
  }
  const DecodeResult decoded = decoder.next();
  ASSERT_TRUE(std::holds_alternative<Message>(decoded));
  EXPECT_EQ(std::get<Message>(decoded), message);
}

}  // namespace
}  // namespace jobd::proto
