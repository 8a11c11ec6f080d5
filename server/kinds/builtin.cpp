// The registration list: one line per kind. Each kind lives in its own file.
#include "kinds/builtin.hpp"

namespace jobd::kinds {

void register_builtin_kinds(KindRegistry& registry, bool test_kinds) {
  registry.add(make_sleep_kind());
  registry.add(make_echo_kind());
  registry.add(make_primes_kind());
  registry.add(make_sha256_kind());
  if (test_kinds) {
    registry.add(make_spin_kind());
    registry.add(make_fail_kind());
    registry.add(make_block_kind());
    registry.add(make_chatter_kind());
    registry.add(make_crash_kind());
    registry.add(make_exit_kind());
    registry.add(make_alloc_kind());
  }
}

}  // namespace jobd::kinds
