#include "exec/posix/child_process.hpp"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace jobd::exec::posix {

namespace {
// glibc 2.36 has no P_PIDFD in idtype_t yet; the kernel's value (linux/wait.h) is 3.
constexpr idtype_t kIdPidfd = static_cast<idtype_t>(3);
}  // namespace

// glibc 2.36's <sys/pidfd.h> lacks extern "C" (a C++ link fails), so the raw syscall.
int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int wait_pidfd(int pidfd, siginfo_t& info, rusage& usage, int flags) {
  info = siginfo_t{};
  return static_cast<int>(::syscall(SYS_waitid, kIdPidfd, pidfd, &info, WEXITED | flags, &usage));
}

void signal_group(pid_t leader, int signo) { ::kill(-leader, signo); }

void kill_group(pid_t leader, int pidfd) {
  ::kill(-leader, SIGKILL);
  ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
}

std::optional<Reaped> reap_exited(pid_t leader, int pidfd) {
  // The leader is a zombie until the waitid below: its group id is still reserved.
  signal_group(leader, SIGKILL);
  siginfo_t info{};
  Reaped reaped;
  if (wait_pidfd(pidfd, info, reaped.usage, WNOHANG) != 0) return std::nullopt;
  if (info.si_pid == 0) {
    errno = EAGAIN;  // still running: the caller did not check that it exited
    return std::nullopt;
  }
  reaped.exit = {info.si_code, info.si_status};
  return reaped;
}

void kill_and_reap(pid_t leader, int pidfd) {
  kill_group(leader, pidfd);
  siginfo_t info{};
  rusage usage{};
  while (wait_pidfd(pidfd, info, usage, 0) != 0 && errno == EINTR) {
  }
}

}  // namespace jobd::exec::posix
