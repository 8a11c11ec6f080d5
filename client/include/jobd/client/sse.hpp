// SseParser: turns the bytes of a text/event-stream body into events, following the WHATWG
// "event stream interpretation" rules (any of CRLF, LF, CR ends a line; `data:` lines join with
// LF; a blank line dispatches; `:` lines are comments). Sans-I/O: feed it whatever chunks the
// socket delivers, however they split lines, and it hands back whole events.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace jobd::client {

struct SseEvent {
  std::string type = "message";  // the `event:` field; "message" when absent
  std::string id;                // the `id:` field of this event, or the last one seen before it
  std::string data;              // `data:` lines joined with '\n'
};

class SseParser {
 public:
  // Called once per complete event, in stream order. Returning false stops the parse: feed()
  // then returns false and ignores the rest of the chunk.
  using Sink = std::function<bool(const SseEvent&)>;

  explicit SseParser(Sink sink) : sink_(std::move(sink)) {}

  // Consumes one chunk; false when the sink asked to stop.
  bool feed(std::string_view chunk);
  // The `id:` most recently seen (what a reconnect sends as Last-Event-ID).
  const std::string& last_event_id() const { return last_id_; }
  // The `retry:` reconnection delay the server asked for, in ms (0 when none).
  unsigned long retry_ms() const { return retry_ms_; }
  // Bytes of an unfinished line held back; a stream that ends with some left was cut off.
  std::size_t pending_bytes() const { return line_.size(); }

 private:
  bool line(std::string_view text);
  bool dispatch();

  Sink sink_;
  std::string line_;       // the line being assembled across chunks
  bool after_cr_ = false;  // the previous chunk ended with CR: a leading LF belongs to it
  std::string type_;
  std::string data_;
  bool has_data_ = false;
  std::string last_id_;
  unsigned long retry_ms_ = 0;
};

}  // namespace jobd::client
