#include "exec/subprocess/output_capture.hpp"

#include <algorithm>

#include "exec/subprocess/base64.hpp"

namespace jobd::exec {

std::size_t valid_utf8_prefix(std::string_view text) {
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  while (i < text.size()) {
    const unsigned char c = at(i);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xbf;  // range of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      if (c == 0xe0) low = 0xa0;
      if (c == 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      if (c == 0xf0) low = 0x90;
      if (c == 0xf4) high = 0x8f;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    if (at(i + 1) < low || at(i + 1) > high) return i;
    for (std::size_t k = 2; k < length; ++k) {
      if ((at(i + k) & 0xc0) != 0x80) return i;
    }
    i += length;
  }
  return i;
}

std::string printable_line(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  while (!line.empty()) {
    const std::size_t valid = valid_utf8_prefix(line);
    out.append(line.substr(0, valid));
    line.remove_prefix(valid);
    if (!line.empty()) {
      out.append("\xEF\xBF\xBD");
      line.remove_prefix(1);
    }
  }
  return out;
}

void OutputCapture::append(std::string_view bytes, const LineFn& on_line) {
  total_ += bytes.size();
  // Beyond the cap the bytes are only counted: the child must never block on a full pipe.
  const std::size_t keep = std::min(bytes.size(), cap_ - std::min(cap_, data_.size()));
  if (keep == 0) return;
  data_.append(bytes.substr(0, keep));
  kept_ += keep;
  split_lines(bytes.substr(0, keep), false, on_line);
}

void OutputCapture::finish(const LineFn& on_line) { split_lines({}, true, on_line); }

void OutputCapture::split_lines(std::string_view bytes, bool at_eof, const LineFn& on_line) {
  const auto emit = [&](std::string_view line) {
    if (valid_utf8_prefix(line) == line.size()) {
      on_line(line);
    } else {
      on_line(printable_line(line));
    }
  };
  while (!bytes.empty()) {
    const auto newline = bytes.find('\n');
    const auto piece = bytes.substr(0, newline);
    if (newline != std::string_view::npos && partial_line_.empty() && piece.size() <= kMaxOutputLineBytes) {
      emit(piece);  // the common case: a whole line, no copy
      bytes.remove_prefix(newline + 1);
      continue;
    }
    const std::size_t room = kMaxOutputLineBytes - partial_line_.size();
    const std::size_t take = std::min(piece.size(), room);
    partial_line_.append(piece.substr(0, take));
    bytes.remove_prefix(take);
    const bool line_ended = take == piece.size() && newline != std::string_view::npos;
    if (line_ended) bytes.remove_prefix(1);
    if (line_ended || partial_line_.size() == kMaxOutputLineBytes) {
      emit(partial_line_);
      partial_line_.clear();
    }
  }
  if (at_eof && !partial_line_.empty()) {
    emit(partial_line_);
    partial_line_.clear();
  }
}

void OutputCapture::move_into(nlohmann::json& details, const std::string& name) {
  const std::size_t valid = valid_utf8_prefix(data_);
  // A multi-byte character the cap cut in half is the cap's doing, not binary output.
  if (valid < data_.size() && truncated() && data_.size() - valid < 4) data_.resize(valid);
  if (valid == data_.size()) {
    details[name] = std::move(data_);
  } else {
    details[name + "_base64"] = encode_base64(data_);
  }
  data_.clear();
}

}  // namespace jobd::exec
