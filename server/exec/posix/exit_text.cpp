#include "exec/posix/exit_text.hpp"

#include <sys/wait.h>

#include <csignal>
#include <cstring>

namespace jobd::exec::posix {

bool ExitStatus::exited() const { return code == CLD_EXITED; }

std::string signal_name(int signo) {
  const char* abbrev = ::sigabbrev_np(signo);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(signo);
}

std::string describe_exit(ExitStatus exit) {
  if (exit.exited()) return "exited with code " + std::to_string(exit.status);
  return "killed by " + signal_name(exit.status);
}

std::string describe_worker_exit(ExitStatus exit, std::uint64_t cpu_seconds_per_job) {
  if (exit.exited()) return "worker exited with status " + std::to_string(exit.status);
  if (exit.code == CLD_KILLED || exit.code == CLD_DUMPED) {
    const char* abbrev = ::sigabbrev_np(exit.status);
    std::string text = "worker killed by signal " + std::to_string(exit.status) + " (" +
                       (abbrev != nullptr ? "SIG" + std::string(abbrev) : std::string("unknown")) + ")";
    if (exit.status == SIGXCPU && cpu_seconds_per_job > 0) {
      text += ": CPU time limit of " + std::to_string(cpu_seconds_per_job) + " s per job (--worker-cpu)";
    }
    return text;
  }
  return "worker ended (si_code " + std::to_string(exit.code) + ", status " + std::to_string(exit.status) +
         ")";
}

}  // namespace jobd::exec::posix
