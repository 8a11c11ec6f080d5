// Command-line value parsing of jobctl: durations, --param k=v, --input @file. Pure functions
// (apart from reading the --input file), so the unit tests pin every accepted spelling.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace jobd::jobctl {

// "250ms", "1.5s", "2m", "1h", or a bare number of seconds ("30", "0.5"). Nullopt and a reason
// in `error` otherwise (negative, empty, unknown unit).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::string& error);

// The value of --param k=v: JSON when it parses as JSON (7, true, null, [1], {"a":1}, "x"),
// otherwise the text itself as a string, so `--param name=world` needs no quoting.
nlohmann::json param_value(std::string_view text);

// Applies "k=v" to `params` (an object); a dotted key ("a.b=1") sets a nested field.
bool apply_param(nlohmann::json& params, std::string_view assignment, std::string& error);

// --input: "@path" reads a file, "@-" reads stdin, anything else is the input itself. Valid
// UTF-8 goes to params.input (text); other bytes to params.input_base64, as command kinds take.
bool apply_input(nlohmann::json& params, std::string_view argument, std::string& error);

bool is_valid_utf8(std::string_view bytes);
std::string base64_encode(std::string_view bytes);

}  // namespace jobd::jobctl
