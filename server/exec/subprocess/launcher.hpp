// The launcher: starts one subprocess job's child (vfork + exec) with its pipes, its working
// directory, its limits and its pidfd. Runs on the subprocess executor's spawner threads, never
// on the loop: vfork waits until the child exec'd (~100 us), mkdtemp can wait on the file
// system's journal.
//
// Why vfork + exec and not posix_spawn: the child's resource limits must hold from the
// program's first instruction. posix_spawn cannot set them, and prlimit(2) right after it is a
// race the child wins on a busy machine (measured: 2 runs in 8 of a short script saw jobd's
// limits), letting processes it forks at once escape them. vfork is what glibc's posix_spawn
// uses too: the child borrows jobd's memory and makes system calls only.
//
// Each child gets: its own process group, default signal dispositions and an empty mask, fds
// 0-2 only (stdin a pipe or /dev/null), the command's environment only, its working
// directory, its rlimits (RLIMIT_CORE 0 unless configured), and PR_SET_PDEATHSIG=SIGKILL so
// that it does not outlive a jobd that is killed without a chance to stop it.
//
// Touches only immutable data shared with the loop (the command, from the kind registry).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

#include "exec/posix/unique_fd.hpp"
#include "exec/subprocess/command_spec.hpp"

namespace jobd::exec {

// Spawner threads. Several, because each one waits in vfork until its child has exec'd (the
// child needs a CPU for that), and mkdir/rmdir can wait on the file system's journal: with one
// thread, one slow spawn stalls all others (measured: p99 of `true` jobs 1.1 s with one thread
// on a loaded 2-core machine, 0.3 s with four, throughput 2-6x).
inline constexpr std::size_t kSpawnerThreads = 4;

// What a spawner thread needs: copies and pointers to immutable data only.
struct LaunchRequest {
  const CommandSpec* command = nullptr;  // lives in the kind registry, which outlives jobs
  std::vector<std::string> argv;
  bool stdin_pipe = false;
};

// A started child in transit from a spawner thread to the loop. If it never arrives (jobd
// stops meanwhile), its destructor kills the group and reaps it: nothing leaks.
struct Launched {
  pid_t pid = -1;
  posix::UniqueFd pidfd, stdin_w, stdout_r, stderr_r;
  std::string temp_dir;  // to remove after the job; empty with a fixed workdir
  std::string error;     // set when the child could not be started

  Launched() = default;
  Launched(Launched&& other) noexcept;
  Launched& operator=(Launched&&) = delete;
  ~Launched();
};

// Working directory, pipes, the child, its pidfd; or `error` saying which step failed.
Launched launch(const LaunchRequest& request);

}  // namespace jobd::exec
