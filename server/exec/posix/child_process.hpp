// A child process as jobd holds it: its pid and its pidfd. Opening the pidfd, signalling the
// child's process group, reaping the child with its resource usage.
//
// Every child is reaped through its own pidfd (waitid(P_PIDFD)) by the executor that started
// it: never waitpid(-1), never a SIGCHLD handler, so the process pool and the subprocess
// executor never reap each other's children (DESIGN §8).
//
// Group signals rest on one fact: each child leads its own process group (pgid = pid), and its
// pid, hence the group id, cannot be reused while the child is an unreaped zombie. So a group
// is signalled only before its leader is reaped; after that the id may name a stranger.
//
// Nothing here blocks, except kill_and_reap, which says so.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <optional>

#include "exec/posix/exit_text.hpp"

namespace jobd::exec::posix {

// A reaped child: how it ended and what it used (CPU time of it and its reaped descendants).
struct Reaped {
  ExitStatus exit;
  rusage usage{};
};

// pidfd_open(2); -1 with errno on failure (Linux < 5.3). Right only for a child not yet
// reaped: until then its pid cannot name another process.
int open_pidfd(pid_t pid);

// waitid(P_PIDFD, pidfd, WEXITED | flags) with the child's rusage, which glibc's wrapper drops.
// 0 or -1 with errno; with WNOHANG, info.si_pid == 0 means it has not exited.
int wait_pidfd(int pidfd, siginfo_t& info, rusage& usage, int flags);

// `signo` to the whole group `leader` leads.
void signal_group(pid_t leader, int signo);

// SIGKILL to the group and, through its pidfd, to the leader itself: right even before the
// leader's setpgid ran (a worker just forked).
void kill_group(pid_t leader, int pidfd);

// For a leader known to have exited (posix::wait_for_exit said so): SIGKILL to what is left of
// its group (background grandchildren: a job's processes do not outlive it), then reaps it.
// Never blocks; nullopt with errno when waitid fails or finds it still running.
std::optional<Reaped> reap_exited(pid_t leader, int pidfd);

// Kills the group and the leader, then waits until the leader is reaped. Blocks, briefly (a
// SIGKILL cannot be ignored): only for paths where jobd stops while the child is alive
// (shutdown, a child that never reached the loop).
void kill_and_reap(pid_t leader, int pidfd);

}  // namespace jobd::exec::posix
