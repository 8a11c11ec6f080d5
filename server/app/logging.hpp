// spdlog set-up: text for people, JSON lines for log pipelines.
#pragma once

#include "config/config.hpp"

namespace jobd::app {

void setup_logging(const std::string& level, config::LogFormat format);
// `text` as the inside of a JSON string (quotes, backslashes, control bytes escaped).
std::string json_escape(std::string_view text);

}  // namespace jobd::app
