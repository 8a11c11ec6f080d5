// Whether this build runs under AddressSanitizer (gcc defines __SANITIZE_ADDRESS__, clang answers
// __has_feature): what such a build, for testing only, must do differently.
#pragma once

namespace jobd::exec {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

}  // namespace jobd::exec
