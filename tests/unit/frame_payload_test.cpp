// decode_payload(): malformed or hostile CBOR, and well-formed payloads whose fields break the
// schema, each rejected with the error (and field) it deserves.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "frame_samples.hpp"

namespace jobd::proto {
namespace {

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
