#include "jobd/client/sse.hpp"

#include <gtest/gtest.h>

#include <vector>

using jobd::client::SseEvent;
using jobd::client::SseParser;

namespace {
std::vector<SseEvent> parse_in_pieces(std::string_view stream, std::size_t piece) {
  std::vector<SseEvent> events;
  SseParser parser([&](const SseEvent& event) {
    events.push_back(event);
    return true;
  });
  for (std::size_t i = 0; i < stream.size(); i += piece) parser.feed(stream.substr(i, piece));
  return events;
}
}  // namespace

TEST(SseParser, ParsesTypedEventsWithIds) {
  const std::string stream =
      "event: state\nid: 1\ndata: {\"state\":\"running\"}\n\n"
      ": keep-alive comment\n\n"
      "event: stdout\nid: 2\ndata: {\"line\":\"hi\"}\n\n";
  auto events = parse_in_pieces(stream, stream.size());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "state");
  EXPECT_EQ(events[0].id, "1");
  EXPECT_EQ(events[0].data, "{\"state\":\"running\"}");
  EXPECT_EQ(events[1].type, "stdout");
  EXPECT_EQ(events[1].id, "2");
}

TEST(SseParser, GivesTheSameEventsWhateverTheChunking) {
  const std::string stream =
      "event: progress\r\nid: 7\r\ndata: a\r\ndata: b\r\n\r\n"
      "data:no space\r\rid: 8\ndata: c\n\n";
  const auto whole = parse_in_pieces(stream, stream.size());
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[0].type, "progress");
  EXPECT_EQ(whole[0].data, "a\nb");
  EXPECT_EQ(whole[1].type, "message");
  EXPECT_EQ(whole[1].data, "no space");
  EXPECT_EQ(whole[1].id, "7");  // the last id seen carries over
  EXPECT_EQ(whole[2].id, "8");
  for (std::size_t piece = 1; piece < 8; ++piece) {
    const auto split = parse_in_pieces(stream, piece);
    ASSERT_EQ(split.size(), whole.size()) << "piece " << piece;
    for (std::size_t i = 0; i < whole.size(); ++i) {
      EXPECT_EQ(split[i].type, whole[i].type);
      EXPECT_EQ(split[i].data, whole[i].data);
      EXPECT_EQ(split[i].id, whole[i].id);
    }
  }
}

TEST(SseParser, DropsEventsWithoutDataAndKeepsRetry) {
  SseParser parser([](const SseEvent&) {
    ADD_FAILURE() << "an event without data must not be dispatched";
    return true;
  });
  parser.feed("event: state\n\nretry: 1500\n\nid: 3\n\n");
  EXPECT_EQ(parser.retry_ms(), 1500u);
  EXPECT_EQ(parser.last_event_id(), "3");
}

TEST(SseParser, StopsWhenTheSinkSaysSo) {
  int seen = 0;
  SseParser parser([&](const SseEvent&) { return ++seen < 2; });
  EXPECT_FALSE(parser.feed("data: 1\n\ndata: 2\n\ndata: 3\n\n"));
  EXPECT_EQ(seen, 2);
}

TEST(SseParser, HoldsAnUnfinishedLine) {
  int seen = 0;
  SseParser parser([&](const SseEvent&) { return ++seen, true; });
  parser.feed("data: partial");
  EXPECT_EQ(seen, 0);
  EXPECT_GT(parser.pending_bytes(), 0u);
}
