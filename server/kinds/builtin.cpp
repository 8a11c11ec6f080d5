// The registration list: one line per kind. Each kind lives in its own file.
#include "kinds/builtin.hpp"

namespace jobd::kinds {

void register_builtin_kinds(KindRegistry& registry) {
  registry.add(make_sleep_kind());
  registry.add(make_echo_kind());
  registry.add(make_primes_kind());
  registry.add(make_sha256_kind());
}

}  // namespace jobd::kinds
