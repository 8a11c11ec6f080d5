// Fault-injection kinds, for tests only (--test-kinds): they let tests prove what jobd does when
// a job misbehaves. A library of their own, outside the production kinds: only the jobd binary
// (behind the flag) and the tests link it.
#pragma once

#include "kinds/kind.hpp"

namespace jobd::kinds::testing {

Kind make_spin_kind();         // burns CPU for {ms}, ignoring cancellation
Kind make_checkpoints_kind();  // burns CPU for {ms} with a checkpoint every ~100 us: counts yields
Kind make_fail_kind();         // fails with {message}
Kind make_chatter_kind();      // reports {events} progress events quickly: SSE fan-out benchmark
Kind make_block_kind();        // holds the event loop for {ms}: proves the lag monitor sees it
Kind make_crash_kind();        // process: raises {signal}
Kind make_exit_kind();         // process: exits with {code}
Kind make_alloc_kind();        // process: allocates and touches {mb} MiB

// Adds every kind above to `registry`.
void register_test_kinds(KindRegistry& registry);

}  // namespace jobd::kinds::testing
