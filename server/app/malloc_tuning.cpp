#include "app/malloc_tuning.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace jobd::app {

#if defined(JOBD_GLIBC_MALLOC_TUNING) && defined(__GLIBC__)

namespace {
constexpr const char* kTunables = "GLIBC_TUNABLES";
// CPU per job with the sqlite store at 50 connections (bench/RESULTS.md, stop 27): 32 kept less
// of the gain; 64, 128 and 512 were alike within the noise. 128 leaves room for larger bursts.
constexpr const char* kTcache = "glibc.malloc.tcache_count=128";
// Set for the re-executed jobd alone: it tells it that the tunable is ours, to remove, and
// carries the process name (comm) jobd had, which exec'ing /proc/self/exe would turn into "exe"
// (and pgrep, top and killall would no longer find jobd by its name).
constexpr const char* kMarker = "JOBD_MALLOC_TUNED";
}  // namespace

MallocTuning tune_malloc(char** argv) {
  using enum MallocTuning::Outcome;
  const char* tunables = std::getenv(kTunables);
  if (const char* name = std::getenv(kMarker); name != nullptr) {
    // Ours only with our tunable; a marker someone else set is dropped, and jobd goes on as if
    // it had not been there.
    if (tunables != nullptr && std::strcmp(tunables, kTcache) == 0) {
      ::prctl(PR_SET_NAME, name, 0, 0, 0);
      ::unsetenv(kMarker);
      ::unsetenv(kTunables);
      return {tuned, std::string("malloc: ") + kTcache + " (jobd re-executed itself with it)"};
    }
    ::unsetenv(kMarker);
  }
  if (tunables != nullptr) return {};  // the operator's choice
  std::array<char, 17> name{};         // comm: at most 15 characters and a NUL
  if (::prctl(PR_GET_NAME, name.data(), 0, 0, 0) != 0 || name[0] == '\0') return {};
  if (::setenv(kTunables, kTcache, 1) != 0 || ::setenv(kMarker, name.data(), 1) != 0) {
    const int error = errno;
    ::unsetenv(kMarker);
    ::unsetenv(kTunables);
    return {failed, std::string("malloc: cannot set ") + kTcache + ": " + std::strerror(error)};
  }
  ::execv("/proc/self/exe", argv);
  const int error = errno;  // still the untuned jobd: run as it is
  ::unsetenv(kMarker);
  ::unsetenv(kTunables);
  return {failed, std::string("malloc: cannot re-execute /proc/self/exe to set ") + kTcache + ": " +
                      std::strerror(error) + " (running with glibc's default)"};
}

#else

MallocTuning tune_malloc(char**) { return {}; }

#endif

}  // namespace jobd::app
