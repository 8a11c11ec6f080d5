// Base64 (RFC 4648, padding required, no line breaks), as used by a job's `input_base64` param
// and by `stdout_base64`/`stderr_base64` in job records. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace jobd::exec {

// nullopt for anything but padded base64 without whitespace.
std::optional<std::string> decode_base64(std::string_view text);
std::string encode_base64(std::string_view bytes);

}  // namespace jobd::exec
