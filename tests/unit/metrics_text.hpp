// Reading the exposition text in the metrics unit tests.
#pragma once

#include <cstdlib>
#include <limits>
#include <string>

namespace jobd::metrics {

// Value of the sample line that starts with `series` (name plus {labels}), or
// NaN when absent.
inline double sample_value(const std::string& text, const std::string& series) {
  const std::string prefix = series + " ";
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find('\n', pos);
    const std::string line = text.substr(pos, end - pos);
    if (line.rfind(prefix, 0) == 0) return std::strtod(line.c_str() + prefix.size(), nullptr);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace jobd::metrics
