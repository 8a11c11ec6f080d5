#include "jobd/proto/frame.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

namespace jobd::proto {
namespace {

using nlohmann::json;

// One message of every type, with non-trivial contents.
std::vector<Message> sample_messages() {
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

std::string frames_of(const std::vector<Message>& messages) {
  std::string stream;
  for (const Message& message : messages) stream += encode(message);
  return stream;
}

// A frame built by hand, to produce inputs encode() never would.
std::string raw_frame(std::uint8_t type, const std::vector<std::uint8_t>& payload,
                      std::uint8_t version = kProtocolVersion, std::string_view magic = kMagic) {
  std::string frame(magic);
  frame.push_back(static_cast<char>(version));
  frame.push_back(static_cast<char>(type));
  const auto length = static_cast<std::uint32_t>(payload.size());
  for (int shift = 24; shift >= 0; shift -= 8) frame.push_back(static_cast<char>(length >> shift));
  frame.append(payload.begin(), payload.end());
  return frame;
}

std::string raw_frame(MessageType type, const json& payload) {
  return raw_frame(static_cast<std::uint8_t>(type), json::to_cbor(payload));
}

// Header only, declaring `length` payload bytes.
std::string header_claiming(std::uint32_t length, MessageType type = MessageType::run) {
  std::string header = raw_frame(static_cast<std::uint8_t>(type), {});
  for (int i = 0; i < 4; ++i) header[4 + i] = static_cast<char>(length >> (24 - 8 * i));
  return header;
}

DecodeResult decode_one(const std::string& bytes, std::uint32_t limit = kDefaultMaxPayloadSize) {
  FrameDecoder decoder(limit);
  decoder.feed(bytes.data(), bytes.size());
  return decoder.next();
}

bool needs_more(const DecodeResult& result) { return std::holds_alternative<NeedMoreBytes>(result); }

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
  const std::string more(64 * 1024, 'x');
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

// ---- payload errors --------------------------------------------------------

TEST(FramePayload, GarbageCborIsRejectedAsBadPayload) {
  const std::vector<std::vector<std::uint8_t>> garbage = {
      {},                  // empty payload
      {0xff},              // "break" with nothing to break
      {0x1c},              // reserved additional-info value
      {0xa2, 0x61, 0x61},  // map of 2 entries, truncated after first key
      {0x7f, 0x61, 0x61},  // indefinite string never terminated
      {0xd8, 0x20, 0x00},  // tagged item (tags are refused)
      {0xa1, 0x01, 0x02},  // map with a non-string key
  };
  for (const auto& payload : garbage) {
    EXPECT_EQ(decode_one(raw_frame(static_cast<std::uint8_t>(MessageType::run), payload)),
              DecodeResult{DecodeError::bad_payload})
        << json(payload).dump();
  }
}

TEST(FramePayload, BytesAfterTheCborItemAreRejectedAsBadPayload) {
  std::vector<std::uint8_t> payload = json::to_cbor(json{{"pid", 1}, {"version", 1}});
  payload.push_back(0xf6);
  EXPECT_EQ(decode_one(raw_frame(static_cast<std::uint8_t>(MessageType::hello), payload)),
            DecodeResult{DecodeError::bad_payload});
}

TEST(FramePayload, HugeDeclaredContainerSizeIsRejectedWithoutThrowing) {
  // Array / map claiming 2^64-2 elements; nlohmann's DOM builder would throw here.
  const std::vector<std::uint8_t> huge_array = {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
  const std::vector<std::uint8_t> huge_map = {0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
  const std::vector<std::uint8_t> huge_string = {0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
  for (const auto& payload : {huge_array, huge_map, huge_string}) {
    EXPECT_EQ(decode_one(raw_frame(static_cast<std::uint8_t>(MessageType::run), payload)),
              DecodeResult{DecodeError::bad_payload});
  }
}

TEST(FramePayload, DeeplyNestedCborIsRejectedInsteadOfOverflowingTheStack) {
  // 1 million nested one-element arrays: would recurse 1M deep in the parser.
  std::vector<std::uint8_t> payload(1'000'000, 0x81);
  payload.push_back(0xf6);
  EXPECT_EQ(decode_one(raw_frame(static_cast<std::uint8_t>(MessageType::run), payload)),
            DecodeResult{DecodeError::bad_payload});
}

TEST(FramePayload, NestingUpToTheDepthLimitIsAccepted) {
  // The payload map is depth 1, so params may nest kMaxPayloadNestingDepth - 1 deep.
  json params = nullptr;
  for (std::size_t i = 0; i + 1 < kMaxPayloadNestingDepth; ++i) params = json::array({params});
  const Message at_limit = proto::Run{.job_id = "j", .kind = "k", .params = params, .deadline_ms = 0};
  EXPECT_EQ(decode_one(encode(at_limit)), DecodeResult{at_limit});

  const Message over_limit =
      proto::Run{.job_id = "j", .kind = "k", .params = json::array({params}), .deadline_ms = 0};
  EXPECT_EQ(decode_one(encode(over_limit)), DecodeResult{DecodeError::bad_payload});
}

TEST(FramePayload, PayloadThatIsNotAMapIsAnInvalidMessage) {
  for (const json& payload : {json::array({1, 2}), json("hello"), json(3), json(nullptr)}) {
    EXPECT_EQ(decode_one(raw_frame(MessageType::progress, payload)),
              DecodeResult{DecodeError::invalid_message})
        << payload.dump();
  }
}

TEST(FramePayload, UnknownExtraFieldsAreIgnored) {
  const json payload = {{"job_id", "j"}, {"fraction", 0.75}, {"text", "t"}, {"eta_ms", 1000}};
  EXPECT_EQ(decode_one(raw_frame(MessageType::progress, payload)),
            (DecodeResult{Progress{.job_id = "j", .fraction = 0.75, .text = "t"}}));
}

TEST(FramePayload, ProgressFractionMayBeACborIntegerOrHalfFloat) {
  EXPECT_EQ(
      decode_one(raw_frame(MessageType::progress, json{{"job_id", "j"}, {"fraction", 1}, {"text", ""}})),
      (DecodeResult{Progress{.job_id = "j", .fraction = 1.0, .text = ""}}));
  // {"fraction": half-float 0.5 (f9 3800), "job_id": "j", "text": ""}
  const std::vector<std::uint8_t> half = {0xa3, 0x68, 'f',  'r',  'a', 'c', 't', 'i', 'o', 'n',
                                          0xf9, 0x38, 0x00, 0x66, 'j', 'o', 'b', '_', 'i', 'd',
                                          0x61, 'j',  0x64, 't',  'e', 'x', 't', 0x60};
  EXPECT_EQ(decode_one(raw_frame(static_cast<std::uint8_t>(MessageType::progress), half)),
            (DecodeResult{Progress{.job_id = "j", .fraction = 0.5, .text = ""}}));
}

TEST(FramePayload, DecodePayloadRefusesAnUnknownMessageType) {
  const std::vector<std::uint8_t> cbor = json::to_cbor(json::object());
  EXPECT_EQ(decode_payload(static_cast<MessageType>(9), std::as_bytes(std::span(cbor))),
            (std::variant<Message, DecodeError>{DecodeError::unknown_type}));
}

// Valid CBOR maps whose fields do not match the message schema. `field` is the
// key the error detail must name.
struct InvalidFieldCase {
  const char* name;
  MessageType type;
  json payload;
  const char* field;
};

void PrintTo(const InvalidFieldCase& c, std::ostream* os) { *os << c.name; }

class InvalidFields : public ::testing::TestWithParam<InvalidFieldCase> {};

TEST_P(InvalidFields, AreRejectedAsInvalidMessageNamingTheField) {
  const InvalidFieldCase& c = GetParam();
  FrameDecoder decoder;
  const std::string frame = raw_frame(c.type, c.payload);
  decoder.feed(frame.data(), frame.size());
  EXPECT_EQ(decoder.next(), DecodeResult{DecodeError::invalid_message}) << c.payload.dump();
  EXPECT_NE(decoder.error_detail().find(c.field), std::string_view::npos) << decoder.error_detail();
}

const json kRunFields = {{"job_id", "j"}, {"kind", "k"}, {"params", json::object()}, {"deadline_ms", 0}};
const json kProgressFields = {{"job_id", "j"}, {"fraction", 0.5}, {"text", "t"}};

json with(json fields, const char* key, json value) {
  fields[key] = std::move(value);
  return fields;
}

json without(json fields, const char* key) {
  fields.erase(key);
  return fields;
}

INSTANTIATE_TEST_SUITE_P(
    FramePayload, InvalidFields,
    ::testing::Values(
        InvalidFieldCase{"HelloPidIsAString", MessageType::hello, {{"pid", "12"}, {"version", 1}}, "pid"},
        InvalidFieldCase{"HelloPidMissing", MessageType::hello, {{"version", 1}}, "pid"},
        InvalidFieldCase{"HelloPidIsAFloat", MessageType::hello, {{"pid", 12.5}, {"version", 1}}, "pid"},
        InvalidFieldCase{"HelloPidAboveInt64Max",
                         MessageType::hello,
                         {{"pid", std::uint64_t{1} << 63}, {"version", 1}},
                         "pid"},
        InvalidFieldCase{
            "HelloVersionAbove255", MessageType::hello, {{"pid", 1}, {"version", 256}}, "version"},
        InvalidFieldCase{
            "HelloVersionNegative", MessageType::hello, {{"pid", 1}, {"version", -1}}, "version"},
        InvalidFieldCase{"RunJobIdIsANumber", MessageType::run, with(kRunFields, "job_id", 7), "job_id"},
        InvalidFieldCase{"RunKindMissing", MessageType::run, without(kRunFields, "kind"), "kind"},
        InvalidFieldCase{"RunParamsMissing", MessageType::run, without(kRunFields, "params"), "params"},
        InvalidFieldCase{"RunDeadlineIsAString", MessageType::run, with(kRunFields, "deadline_ms", "soon"),
                         "deadline_ms"},
        InvalidFieldCase{"RunDeadlineIsAFloat", MessageType::run, with(kRunFields, "deadline_ms", 1.5),
                         "deadline_ms"},
        InvalidFieldCase{"RunDeadlineNegative", MessageType::run, with(kRunFields, "deadline_ms", -1),
                         "deadline_ms"},
        InvalidFieldCase{"ProgressFractionIsAString", MessageType::progress,
                         with(kProgressFields, "fraction", "half"), "fraction"},
        InvalidFieldCase{"ProgressFractionAboveOne", MessageType::progress,
                         with(kProgressFields, "fraction", 1.5), "fraction"},
        InvalidFieldCase{"ProgressFractionNegative", MessageType::progress,
                         with(kProgressFields, "fraction", -0.1), "fraction"},
        InvalidFieldCase{"ProgressFractionNaN", MessageType::progress,
                         with(kProgressFields, "fraction", std::nan("")), "fraction"},
        InvalidFieldCase{"ProgressTextIsNull", MessageType::progress, with(kProgressFields, "text", nullptr),
                         "text"},
        InvalidFieldCase{"ProgressJobIdMissing", MessageType::progress, without(kProgressFields, "job_id"),
                         "job_id"},
        InvalidFieldCase{
            "ResultOkIsAnInteger", MessageType::result, {{"job_id", "j"}, {"ok", 1}, {"result", 2}}, "ok"},
        InvalidFieldCase{
            "ResultOkWithoutResult", MessageType::result, {{"job_id", "j"}, {"ok", true}}, "result"},
        InvalidFieldCase{"ResultFailureWithoutErrorType",
                         MessageType::result,
                         {{"job_id", "j"}, {"ok", false}, {"error_message", "m"}},
                         "error_type"},
        InvalidFieldCase{"ResultFailureErrorMessageIsNull",
                         MessageType::result,
                         {{"job_id", "j"}, {"ok", false}, {"error_type", "t"}, {"error_message", nullptr}},
                         "error_message"},
        InvalidFieldCase{"ResultJobIdIsAnArray",
                         MessageType::result,
                         {{"job_id", json::array({"j"})}, {"ok", true}, {"result", 1}},
                         "job_id"},
        // A well-formed payload of one type sent under another type's header.
        InvalidFieldCase{"ProgressPayloadUnderHelloHeader", MessageType::hello, kProgressFields, "pid"}),
    [](const ::testing::TestParamInfo<InvalidFieldCase>& case_info) {
      return std::string(case_info.param.name);
    });

}  // namespace
}  // namespace jobd::proto
