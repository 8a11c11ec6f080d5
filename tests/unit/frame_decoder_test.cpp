// FrameDecoder: incremental decoding, header errors caught as early as their byte arrives, the
// size limit, and the sticky error state.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "frame_samples.hpp"

namespace jobd::proto {
namespace {

// ---- incremental decoding --------------------------------------------------

TEST(FrameDecoder, EmptyDecoderNeedsMoreBytes) {
  FrameDecoder decoder;
  EXPECT_TRUE(needs_more(decoder.next()));
  EXPECT_FALSE(decoder.error());
}

TEST(FrameDecoder, StreamFedOneByteAtATimeYieldsEachMessageExactlyWhenItsLastByteArrives) {
  const std::vector<Message> messages = sample_messages();
  std::vector<std::size_t> frame_ends;
  std::string stream;
  for (const Message& message : messages) {
    stream += encode(message);
    frame_ends.push_back(stream.size());
  }

  FrameDecoder decoder;
  std::vector<Message> decoded;
  std::size_t next_frame = 0;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    decoder.feed(&stream[i], 1);
    DecodeResult result = decoder.next();
    if (i + 1 == frame_ends[next_frame]) {
      ASSERT_TRUE(std::holds_alternative<Message>(result)) << "at byte " << i;
      decoded.push_back(std::get<Message>(std::move(result)));
      ++next_frame;
      EXPECT_TRUE(needs_more(decoder.next()));
    } else {
      ASSERT_TRUE(needs_more(result)) << "at byte " << i;
    }
  }
  EXPECT_EQ(decoded, messages);
  EXPECT_EQ(decoder.buffered_size(), 0u);
}

TEST(FrameDecoder, EveryTruncationOfAValidFrameNeedsMoreBytesAndNeverYieldsAMessage) {
  for (const Message& message : sample_messages()) {
    const std::string frame = encode(message);
    for (std::size_t cut = 0; cut < frame.size(); ++cut) {
      FrameDecoder decoder;
      decoder.feed(frame.data(), cut);
      EXPECT_TRUE(needs_more(decoder.next())) << to_string(type_of(message)) << " cut at " << cut;
      EXPECT_FALSE(decoder.error());
      EXPECT_EQ(decoder.buffered_size(), cut);
    }
  }
}

TEST(FrameDecoder, TwoFramesInOneFeedDecodeInOrder) {
  const Message first = Progress{.job_id = "a", .fraction = 0.25, .text = "first"};
  const Message second = Result::success("a", 42);
  const std::string stream = encode(first) + encode(second);

  FrameDecoder decoder;
  decoder.feed(stream.data(), stream.size());
  DecodeResult one = decoder.next();
  DecodeResult two = decoder.next();
  ASSERT_TRUE(std::holds_alternative<Message>(one));
  ASSERT_TRUE(std::holds_alternative<Message>(two));
  EXPECT_EQ(std::get<Message>(one), first);
  EXPECT_EQ(std::get<Message>(two), second);
  EXPECT_TRUE(needs_more(decoder.next()));
}

TEST(FrameDecoder, FrameSplitAcrossFeedsWithNextFrameStartDecodesAndKeepsTheRemainder) {
  const std::string stream = frames_of(sample_messages());
  const std::size_t split = encode(sample_messages()[0]).size() + 3;  // 3 bytes into the second frame

  FrameDecoder decoder;
  decoder.feed(stream.data(), split);
  ASSERT_TRUE(std::holds_alternative<Message>(decoder.next()));
  EXPECT_TRUE(needs_more(decoder.next()));
  EXPECT_EQ(decoder.buffered_size(), 3u);
  decoder.feed(stream.data() + split, stream.size() - split);
  for (std::size_t i = 1; i < sample_messages().size(); ++i) {
    EXPECT_TRUE(std::holds_alternative<Message>(decoder.next()));
  }
  EXPECT_TRUE(needs_more(decoder.next()));
}

TEST(FrameDecoder, ByteSpanFeedBehavesLikeCharPointerFeed) {
  const std::string frame = encode(sample_messages()[1]);
  FrameDecoder decoder;
  decoder.feed(std::as_bytes(std::span<const char>(frame)));
  const DecodeResult decoded = decoder.next();
  ASSERT_TRUE(std::holds_alternative<Message>(decoded));
  EXPECT_EQ(std::get<Message>(decoded), sample_messages()[1]);
}

TEST(FrameDecoder, ConsumedFramesAreReleasedSoBufferStaysBoundedOnALongStream) {
  // Feeding in odd-sized chunks keeps a partial frame buffered at all times;
  // the buffer must still hold at most one frame plus one chunk.
  const std::string frame = encode(Progress{.job_id = "j", .fraction = 0.5, .text = "tick"});
  std::string stream;
  for (int i = 0; i < 2000; ++i) stream += frame;

  FrameDecoder decoder;
  constexpr std::size_t kChunk = 7;
  int decoded = 0;
  for (std::size_t offset = 0; offset < stream.size(); offset += kChunk) {
    decoder.feed(stream.data() + offset, std::min(kChunk, stream.size() - offset));
    ASSERT_LE(decoder.buffered_size(), frame.size() + kChunk);
    for (DecodeResult r = decoder.next(); !needs_more(r); r = decoder.next()) {
      ASSERT_TRUE(std::holds_alternative<Message>(r));
      ++decoded;
    }
  }
  EXPECT_EQ(decoded, 2000);
  EXPECT_EQ(decoder.buffered_size(), 0u);
}

// ---- header errors ---------------------------------------------------------

TEST(FrameDecoder, WrongMagicIsRejected) {
  std::string frame = encode(sample_messages()[0]);
  frame[1] = 'X';
  EXPECT_EQ(decode_one(frame), DecodeResult{DecodeError::bad_magic});
}

TEST(FrameDecoder, WrongFirstMagicByteIsRejectedWithoutWaitingForTheRestOfTheHeader) {
  EXPECT_EQ(decode_one("G"), DecodeResult{DecodeError::bad_magic});  // e.g. a stray "GET ..."
  EXPECT_TRUE(needs_more(decode_one("J")));
}

TEST(FrameDecoder, WrongVersionIsRejectedAsSoonAsTheVersionByteArrives) {
  for (const std::uint8_t version : {0, 2, 255}) {
    const std::string frame = raw_frame(static_cast<std::uint8_t>(MessageType::hello), {0xa0}, version);
    EXPECT_EQ(decode_one(frame.substr(0, 3)), DecodeResult{DecodeError::bad_version}) << int{version};
    EXPECT_EQ(decode_one(frame), DecodeResult{DecodeError::bad_version}) << int{version};
  }
}

TEST(FrameDecoder, UnknownMessageTypeIsRejectedAsSoonAsTheTypeByteArrives) {
  for (const std::uint8_t type : {0, 5, 200, 255}) {
    const std::string frame = raw_frame(type, {0xa0});
    EXPECT_EQ(decode_one(frame.substr(0, 4)), DecodeResult{DecodeError::unknown_type}) << int{type};
    EXPECT_EQ(decode_one(frame), DecodeResult{DecodeError::unknown_type}) << int{type};
  }
}

TEST(FrameDecoder, OversizeLengthIsRejectedFromTheHeaderAloneWithoutBufferingThePayload) {
  FrameDecoder decoder;
  const std::string header = header_claiming(kDefaultMaxPayloadSize + 1);
  decoder.feed(header.data(), header.size());
  EXPECT_EQ(decoder.next(), DecodeResult{DecodeError::too_large});
  EXPECT_EQ(decoder.buffered_size(), 0u);

  // The payload that follows is not accumulated either.
  const std::string more(std::size_t{64} * 1024, 'x');
  decoder.feed(more.data(), more.size());
  EXPECT_EQ(decoder.buffered_size(), 0u);
  EXPECT_EQ(decoder.next(), DecodeResult{DecodeError::too_large});
}

TEST(FrameDecoder, MaximumU32LengthIsRejectedAsTooLarge) {
  EXPECT_EQ(decode_one(header_claiming(std::numeric_limits<std::uint32_t>::max())),
            DecodeResult{DecodeError::too_large});
}

TEST(FrameDecoder, LengthExactlyAtTheDefaultLimitIsAwaitedNotRejected) {
  FrameDecoder decoder;
  const std::string header = header_claiming(kDefaultMaxPayloadSize);
  decoder.feed(header.data(), header.size());
  EXPECT_TRUE(needs_more(decoder.next()));
}

TEST(FrameDecoder, PayloadLimitIsConfigurableAndInclusive) {
  const std::string frame = encode(sample_messages()[1]);
  const auto payload_size = static_cast<std::uint32_t>(frame.size() - kHeaderSize);

  FrameDecoder exact(payload_size);
  EXPECT_EQ(exact.max_payload_size(), payload_size);
  exact.feed(frame.data(), frame.size());
  EXPECT_TRUE(std::holds_alternative<Message>(exact.next()));

  FrameDecoder one_short(payload_size - 1);
  one_short.feed(frame.data(), kHeaderSize);  // header alone is enough to refuse
  EXPECT_EQ(one_short.next(), DecodeResult{DecodeError::too_large});
}

TEST(FrameDecoder, DefaultLimitIs16MiB) {
  EXPECT_EQ(kDefaultMaxPayloadSize, 16u * 1024 * 1024);
  EXPECT_EQ(FrameDecoder().max_payload_size(), kDefaultMaxPayloadSize);
}

// ---- error state -----------------------------------------------------------

TEST(FrameDecoder, ErrorIsStickyAndLaterValidFramesAreIgnored) {
  FrameDecoder decoder;
  decoder.feed("XX", 2);
  EXPECT_EQ(decoder.next(), DecodeResult{DecodeError::bad_magic});

  const std::string valid = encode(sample_messages()[0]);
  decoder.feed(valid.data(), valid.size());
  EXPECT_EQ(decoder.next(), DecodeResult{DecodeError::bad_magic});
  EXPECT_EQ(decoder.next(), DecodeResult{DecodeError::bad_magic});
  EXPECT_EQ(decoder.error(), DecodeError::bad_magic);
  EXPECT_EQ(decoder.buffered_size(), 0u);
}

TEST(FrameDecoder, MessagesBeforeACorruptFrameAreStillDelivered) {
  const std::string stream = encode(sample_messages()[0]) + "garbage!";
  FrameDecoder decoder;
  decoder.feed(stream.data(), stream.size());
  EXPECT_EQ(decoder.next(), DecodeResult{sample_messages()[0]});
  EXPECT_EQ(decoder.next(), DecodeResult{DecodeError::bad_magic});
}

TEST(FrameDecoder, ErrorDetailExplainsTheFailure) {
  FrameDecoder decoder;
  const std::string frame = raw_frame(MessageType::hello, json{{"pid", "not a number"}, {"version", 1}});
  decoder.feed(frame.data(), frame.size());
  EXPECT_EQ(decoder.next(), DecodeResult{DecodeError::invalid_message});
  EXPECT_NE(decoder.error_detail().find("pid"), std::string_view::npos) << decoder.error_detail();
}

TEST(DecodeError, EveryErrorHasADistinctDescription) {
  const std::vector<DecodeError> errors = {DecodeError::bad_magic,    DecodeError::bad_version,
                                           DecodeError::unknown_type, DecodeError::too_large,
                                           DecodeError::bad_payload,  DecodeError::invalid_message};
  std::set<std::string_view> seen;
  for (const DecodeError error : errors) {
    EXPECT_FALSE(to_string(error).empty());
    EXPECT_TRUE(seen.insert(to_string(error)).second) << to_string(error);
  }
}

}  // namespace
}  // namespace jobd::proto
