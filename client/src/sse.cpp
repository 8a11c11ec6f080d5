#include "jobd/client/sse.hpp"

namespace jobd::client {

bool SseParser::feed(std::string_view chunk) {
  std::size_t i = 0;
  if (after_cr_ && !chunk.empty() && chunk.front() == '\n') i = 1;
  after_cr_ = false;
  while (i < chunk.size()) {
    const auto end = chunk.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      line_.append(chunk.substr(i));
      return true;
    }
    line_.append(chunk.substr(i, end - i));
    std::string text = std::move(line_);
    line_.clear();
    i = end + 1;
    if (chunk[end] == '\r') {
      if (i < chunk.size()) {
        if (chunk[i] == '\n') ++i;
      } else {
        after_cr_ = true;
      }
    }
    if (!line(text)) return false;
  }
  return true;
}

bool SseParser::line(std::string_view text) {
  if (text.empty()) return dispatch();
  if (text.front() == ':') return true;  // comment (servers send them as keep-alives)
  const auto colon = text.find(':');
  std::string_view field = text.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = text.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
  }
  if (field == "event") {
    type_ = std::string(value);
  } else if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "id") {
    // An id with NUL is ignored by the spec (it could not be sent back in a header).
    if (value.find('\0') == std::string_view::npos) last_id_ = std::string(value);
  } else if (field == "retry") {
    unsigned long ms = 0;
    bool digits = !value.empty();
    for (char c : value) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      ms = ms * 10 + static_cast<unsigned long>(c - '0');
    }
    if (digits) retry_ms_ = ms;
  }
  return true;  // other fields are ignored, as the spec says
}

bool SseParser::dispatch() {
  // The spec dispatches only events that carry data; an event: line alone is dropped.
  if (!has_data_) {
    type_.clear();
    return true;
  }
  SseEvent event;
  event.type = type_.empty() ? "message" : std::move(type_);
  event.id = last_id_;
  event.data = std::move(data_);
  type_.clear();
  data_.clear();
  has_data_ = false;
  return sink_(event);
}

}  // namespace jobd::client
