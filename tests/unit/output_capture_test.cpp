// A subprocess's output as captured (exec/subprocess/output_capture), without a pipe: lines
// split wherever the reads cut them, cut at kMaxOutputLineBytes, made valid UTF-8; the cap and
// the truncated flag; the record as text or base64; the unfinished last line at EOF.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "exec/subprocess/output_capture.hpp"

using jobd::exec::kMaxOutputLineBytes;
using jobd::exec::OutputCapture;
using Lines = std::vector<std::string>;

namespace {

// Collects the line events of one capture.
struct LineEvents {
  Lines lines;
  OutputCapture::LineFn sink() {
    return [this](std::string_view line) { lines.emplace_back(line); };
  }
};

}  // namespace

TEST(OutputCapture, LinesAreSplitWhereverTheReadsCutThem) {
  OutputCapture capture(1024);
  LineEvents events;
  capture.append("one\ntw", events.sink());
  capture.append("o\n\nthr", events.sink());
  capture.append("ee\n", events.sink());
  capture.finish(events.sink());
  EXPECT_EQ(events.lines, (Lines{"one", "two", "", "three"}));
  EXPECT_EQ(capture.data(), "one\ntwo\n\nthree\n");
  EXPECT_FALSE(capture.truncated());
}

TEST(OutputCapture, AnUnfinishedLastLineIsPublishedAtEof) {
  OutputCapture capture(1024);
  LineEvents events;
  capture.append("a\nno newline", events.sink());
  EXPECT_EQ(events.lines, Lines{"a"});
  capture.finish(events.sink());
  EXPECT_EQ(events.lines, (Lines{"a", "no newline"}));
}

TEST(OutputCapture, ALineLongerThanTheLimitIsPublishedInPieces) {
  OutputCapture capture(1 << 20);
  LineEvents events;
  const std::string line(2 * kMaxOutputLineBytes + 10, 'x');
  capture.append(line.substr(0, 5000), events.sink());
  capture.append(line.substr(5000) + "\nnext\n", events.sink());
  ASSERT_EQ(events.lines.size(), 4u);
  EXPECT_EQ(events.lines[0], std::string(kMaxOutputLineBytes, 'x'));
  EXPECT_EQ(events.lines[1], std::string(kMaxOutputLineBytes, 'x'));
  EXPECT_EQ(events.lines[2], std::string(10, 'x'));
  EXPECT_EQ(events.lines[3], "next");
  // A line of exactly the limit is one event, in one read or two.
  LineEvents exact;
  OutputCapture other(1 << 20);
  const std::string full(kMaxOutputLineBytes, 'y');
  other.append(full + "\n", exact.sink());
  other.append(full.substr(0, 100), exact.sink());
  other.append(full.substr(100) + "\n", exact.sink());
  EXPECT_EQ(exact.lines, (Lines{full, full}));
}

TEST(OutputCapture, InvalidUtf8BecomesTheReplacementCharacterInLines) {
  OutputCapture capture(1024);
  LineEvents events;
  capture.append(
      "bin\xff"
      "ary\n",
      events.sink());
  // A character cut by a read is whole again in the line.
  capture.append("caf\xc3", events.sink());
  capture.append("\xa9\n", events.sink());
  EXPECT_EQ(events.lines, (Lines{"bin\xEF\xBF\xBD"
                                 "ary",
                                 "caf\xc3\xa9"}));
  EXPECT_EQ(capture.data(),
            "bin\xff"
            "ary\ncaf\xc3\xa9\n");  // the record keeps the bytes
}

TEST(OutputCapture, BytesBeyondTheCapAreCountedNeitherKeptNorPublished) {
  OutputCapture capture(8);
  LineEvents events;
  capture.append("0123456789\n", events.sink());
  capture.append("more\n", events.sink());
  capture.finish(events.sink());
  EXPECT_EQ(capture.data(), "01234567");
  EXPECT_EQ(capture.total(), 16u);
  EXPECT_TRUE(capture.truncated());
  EXPECT_EQ(events.lines, Lines{"01234567"});
}

TEST(OutputCaptureRecord, TextWhenUtf8ElseBase64) {
  nlohmann::json details;
  OutputCapture text(64);
  text.append("hello\n", [](std::string_view) {});
  text.move_into(details, "stdout");
  OutputCapture binary(64);
  binary.append("\xff\xfe", [](std::string_view) {});
  binary.move_into(details, "stderr");
  EXPECT_EQ(details["stdout"], "hello\n");
  EXPECT_FALSE(details.contains("stderr"));
  EXPECT_EQ(details["stderr_base64"], "//4=");
}

TEST(OutputCaptureRecord, ACharacterCutByTheCapIsDroppedNotTurnedIntoBase64) {
  nlohmann::json details;
  OutputCapture capture(5);
  capture.append("abcd\xc3\xa9", [](std::string_view) {});
  capture.move_into(details, "stdout");
  EXPECT_EQ(details["stdout"], "abcd");
  EXPECT_TRUE(capture.truncated());  // still known after the move
}

TEST(Utf8, ValidPrefixFollowsTheUnicodeTable) {
  using jobd::exec::valid_utf8_prefix;
  EXPECT_EQ(valid_utf8_prefix("plain"), 5u);
  EXPECT_EQ(valid_utf8_prefix("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(valid_utf8_prefix("a\xed\xa0\x80"), 1u);     // a surrogate
  EXPECT_EQ(valid_utf8_prefix("\xf4\x8f\xbf\xbf"), 4u);  // U+10FFFF
  EXPECT_EQ(valid_utf8_prefix("\xf4\x90\x80\x80"), 0u);  // beyond it
  EXPECT_EQ(valid_utf8_prefix("ok\xe2\x82"), 2u);        // cut short
  EXPECT_EQ(jobd::exec::printable_line("a\xff\xfe"), "a\xEF\xBF\xBD\xEF\xBF\xBD");
}
