// ForkServer: where worker processes come from.
//
// jobd must never fork() once it has a second thread (the child would inherit mutexes that
// other threads held: malloc's, spdlog's). So main() forks this small single-threaded server
// before anything else starts; it waits on a control socket, and for each request it hands jobd
// one worker's channels over SCM_RIGHTS. It keeps one worker forked ahead (a spare, already past
// its hello) and answers from it, forking the next spare after the answer: a respawn costs a
// message round trip, not a fork. It owns nothing else: no job, no supervision (that is the
// process pool's, in jobd), no log (it has none; errors go to stderr).
//
// Why a fork server and not re-executing /proc/self/exe in a worker mode (both keep the rule):
// respawn time. posix_spawn of the jobd binary, dynamic linking (libstdc++, libcrypto, fmt,
// spdlog) and static initialisation cost ~3 ms median on this 2-core VM (5.7 ms max over 100,
// idle machine), above the 5 ms respawn target under load; a worker from the spare is ready in
// a few hundred microseconds (bench/RESULTS.md, "process executor"). A crashed, killed or
// recycled worker is back before the next request notices, and `--worker-max-jobs 1` (a fresh
// process per job) stays usable. Re-exec's advantages (a fresh address-space layout per worker,
// no inherited state) matter less here: the server is forked before jobd has read a request.
//
// Workers are created with clone3(CLONE_PARENT), which makes jobd, not this server, their
// parent: jobd reaps exactly its own workers through their pidfds (waitid(P_PIDFD)), with the
// real exit status, and never needs waitpid(-1) or a SIGCHLD handler that would steal the
// children of the subprocess executor. CLONE_PIDFD gives the pidfd race-free; it travels to
// jobd with the other descriptors.
//
// The cost of CLONE_PARENT through a raw syscall is that glibc's fork() bookkeeping does not
// run in the child; for a single-threaded parent that only matters for the cached thread id,
// which glibc >= 2.34 no longer uses to raise() or abort() (tests cover both).
#pragma once

#include <chrono>

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <variant>

namespace jobd::kinds {
class KindRegistry;
}

namespace jobd::exec {

// Resource limits applied by each worker to itself before it runs anything.
struct WorkerLimits {
  std::uint64_t memory_bytes = std::uint64_t{1} << 30;  // RLIMIT_AS
  std::uint64_t cpu_seconds = 0;                        // RLIMIT_CPU per job; 0 = none
  std::uint64_t open_files = 256;                       // RLIMIT_NOFILE
};

struct ForkServerOptions {
  WorkerLimits limits;
  // Each worker's Linux scheduling policy (--worker-policy): SCHED_OTHER, SCHED_BATCH (a worker
  // woken by a RUN frame does not preempt the loop that sent it) or SCHED_IDLE (it runs only on a
  // CPU nothing else wants). The fork server itself keeps jobd's.
  int sched_policy = 0;  // SCHED_OTHER
  // A worker yields the CPU at a job's checkpoint once it has run this long since its last
  // yield (--worker-yield-us; kinds::CpuContext::yield_every); zero: never.
  std::chrono::microseconds yield_every{0};
};

// A worker that was just forked: jobd owns these descriptors now (all close-on-exec).
struct SpawnedWorker {
  std::uint64_t token = 0;  // the request it answers
  pid_t pid = -1;
  int socket = -1;  // the frame channel (AF_UNIX stream)
  int output = -1;  // read end of the worker's stdout+stderr pipe
  int pidfd = -1;
};
// The server could not fork the worker (errno value).
struct SpawnFailed {
  std::uint64_t token = 0;
  int error = 0;
};
struct NothingYet {};  // no answer ready; wait until the control socket is readable
struct ServerGone {};  // the fork server closed its end: it died

using SpawnAnswer = std::variant<SpawnedWorker, SpawnFailed, NothingYet, ServerGone>;

class ForkServer {
 public:
  // Forks the server. Call only while the process has a single thread (main(), before the
  // app starts). Workers run the CPU kinds of `kinds`, as it is now (the fork copies it).
  // Throws std::system_error when the socketpair or the fork fails.
  static std::unique_ptr<ForkServer> start(const ForkServerOptions& options,
                                           const kinds::KindRegistry& kinds);
  // False in AddressSanitizer builds, whose shadow memory rules out RLIMIT_AS: there the memory
  // limit of workers is not applied.
  static bool memory_limit_enforced();

  ~ForkServer();
  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;

  // The non-blocking control socket, for the caller's event loop to wait on.
  int control_fd() const { return control_; }
  pid_t pid() const { return pid_; }
  const ForkServerOptions& options() const { return options_; }

  // Asks for one worker. Non-blocking; false when the request could not be sent (the
  // socket is full or the server is gone): the caller retries later.
  bool request(std::uint64_t token);
  // One answer if one is ready. Never blocks.
  SpawnAnswer receive();
  // Closes the control socket (the server exits on EOF) and reaps the server, waiting at
  // most ~1 s before SIGKILL. Idempotent. Does not touch the workers: they are jobd's.
  void stop();

 private:
  ForkServer(pid_t pid, int pidfd, int control, ForkServerOptions options)
      : pid_(pid), pidfd_(pidfd), control_(control), options_(options) {}

  pid_t pid_;
  int pidfd_;
  int control_;
  ForkServerOptions options_;
};

}  // namespace jobd::exec
