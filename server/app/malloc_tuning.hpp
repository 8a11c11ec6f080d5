// glibc malloc's per-thread cache, sized for a loop that resumes a whole batch of requests at once.
//
// glibc's tcache keeps 7 free blocks per size class per thread. A loop that finishes jobs one
// request at a time frees and reallocates in pairs, which 7 serve; but with a durable store a
// commit resumes every request of its batch in one go (and a thread-pool completion a burst of
// them): dozens of coroutine frames and handlers of one size are freed, then allocated again,
// and all but 7 go through malloc's slow paths (the unsorted bin, consolidation). jobd asks for
// 128 per class through GLIBC_TUNABLES, which glibc reads only at exec: so jobd re-executes
// itself once, first thing in main(), with the tunable set (same pid, same arguments and
// descriptors). bench/RESULTS.md, stop 27: jobd's CPU per echo job -7 % with --store memory:
// and -13 % with the default sqlite store.
//
// An operator's own GLIBC_TUNABLES (even empty) is left alone: `GLIBC_TUNABLES= jobd ...` turns
// this off. Builds with another allocator or a sanitizer never do it (JOBD_GLIBC_MALLOC_TUNING).
#pragma once

#include <string>

namespace jobd::app {

struct MallocTuning {
  enum class Outcome { untouched, tuned, failed } outcome = Outcome::untouched;
  std::string message;  // tuned or failed: what to log (debug, warning) once logging is set up
};

// Called first in main(), before any thread, socket or file exists. Either returns at once, or
// re-executes jobd (and does not return), or returns after the re-execution with the tunable
// in effect; the variables it set are removed from the environment then, so that nothing jobd
// starts inherits them.
MallocTuning tune_malloc(char** argv);

}  // namespace jobd::app
