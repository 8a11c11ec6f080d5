#include "jobd/proto/rfc3339.hpp"

#include <chrono>

namespace jobd::proto {

namespace {
// Reads `width` decimal digits at `at`; -1 when any is not a digit or the text is too short.
int digits(std::string_view text, std::size_t at, std::size_t width) noexcept {
  if (at + width > text.size()) return -1;
  int value = 0;
  for (std::size_t i = at; i < at + width; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}
}  // namespace

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text) noexcept {
  using namespace std::chrono;
  // YYYY-MM-DDTHH:MM:SS is 19 characters; the zone follows (at least `Z`).
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
      text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  const int y = digits(text, 0, 4), mo = digits(text, 5, 2), d = digits(text, 8, 2);
  const int h = digits(text, 11, 2), mi = digits(text, 14, 2), s = digits(text, 17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0 || h > 23 || mi > 59 || s > 59)
    return std::nullopt;
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;
  std::size_t at = 19;
  std::int64_t ms = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const std::size_t first = at;
    int scale = 100;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      ms += static_cast<std::int64_t>(scale) * (text[at] - '0');
      scale /= 10;
      ++at;
    }
    if (at == first) return std::nullopt;
  }
  if (at >= text.size()) return std::nullopt;
  std::int64_t offset_min = 0;
  if (text[at] == 'Z' || text[at] == 'z') {
    ++at;
  } else if (text[at] == '+' || text[at] == '-') {
    const int oh = digits(text, at + 1, 2), om = digits(text, at + 4, 2);
    if (oh < 0 || om < 0 || at + 3 >= text.size() || text[at + 3] != ':' || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_min = (text[at] == '+' ? 1 : -1) * (std::int64_t{oh} * 60 + om);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  const auto days_since_epoch = sys_days(date).time_since_epoch().count();
  return ((static_cast<std::int64_t>(days_since_epoch) * 24 + h) * 60 + mi - offset_min) * 60'000 +
         std::int64_t{s} * 1000 + ms;
}

}  // namespace jobd::proto
