// sha1_hex: the SHA-1 of a byte string as 40 lowercase hex digits, which is how Redis names a
// Lua script (EVALSHA, SCRIPT LOAD). Computed here so a script's name is known without asking.
//
// Not for security (SHA-1 is broken for that); only to match Redis's script cache.
// Must never: do I/O (pure; unit-tested against FIPS 180 vectors and against SCRIPT LOAD).
#pragma once

#include <string>
#include <string_view>

namespace jobd::store::redis {

std::string sha1_hex(std::string_view bytes);

}  // namespace jobd::store::redis
