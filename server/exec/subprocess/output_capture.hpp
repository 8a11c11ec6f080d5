// OutputCapture: one output stream of a subprocess job (stdout or stderr), from the bytes read
// off its pipe to what the job record and the events stream show. Pure: bytes in; the captured
// bytes, the truncation flag and line events out. It never reads a pipe or calls a sink: the
// executor hands it what it read and passes the lines on (JobSink::on_output).
//
// Rules (tests/unit/output_capture_test.cpp):
// - the first `cap` bytes are kept; the rest are counted, never stored: the child must never
//   block on a full pipe, and jobd's memory must not grow with it (`truncated` says so);
// - lines are published from the kept bytes only, split at '\n' wherever the reads cut them,
//   each valid UTF-8 (every other byte becomes U+FFFD: events are JSON text) and at most
//   kMaxOutputLineBytes long (a longer line comes in pieces); an unfinished last line comes
//   at EOF;
// - the record holds the bytes as text when they are UTF-8 (a character the cap cut in half is
//   dropped), else as base64 under `<name>_base64`, since JSON strings are text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace jobd::exec {

// The longest line published as one event; a longer one is published in pieces.
inline constexpr std::size_t kMaxOutputLineBytes = 4096;

// Length of the longest prefix that is well-formed UTF-8 (Unicode table 3-7: no overlong
// forms, no surrogates), the rule the JSON serializer enforces.
std::size_t valid_utf8_prefix(std::string_view text);

// `line` with each byte that is not part of well-formed UTF-8 replaced by U+FFFD.
std::string printable_line(std::string_view line);

class OutputCapture {
 public:
  // Receives each line (no newline, valid UTF-8); the view lives only during the call.
  using LineFn = std::function<void(std::string_view line)>;

  explicit OutputCapture(std::size_t cap = 0) : cap_(cap) {}

  // Bytes read from the pipe, in order.
  void append(std::string_view bytes, const LineFn& on_line);
  // The pipe reached EOF (or was given up): the unfinished last line, if any.
  void finish(const LineFn& on_line);

  const std::string& data() const { return data_; }
  std::uint64_t total() const { return total_; }  // bytes the child wrote
  bool truncated() const { return total_ > kept_; }

  // Moves the kept bytes into a job's details, as `name` or `<name>_base64`; data() is empty
  // after, total() and truncated() unchanged.
  void move_into(nlohmann::json& details, const std::string& name);

 private:
  void split_lines(std::string_view bytes, bool at_eof, const LineFn& on_line);

  std::size_t cap_;
  std::string data_;
  std::uint64_t total_ = 0;
  std::size_t kept_ = 0;
  std::string partial_line_;  // the unfinished last line, when a read ended inside it
};

}  // namespace jobd::exec
