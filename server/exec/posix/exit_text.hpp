// How a child process ended, and how that reads in a job's error message. Pure: no process is
// touched here; the numbers come from waitid(2) (exec/posix/child_process.hpp).
#pragma once

#include <cstdint>
#include <string>

namespace jobd::exec::posix {

// waitid's si_code (CLD_EXITED, CLD_KILLED, CLD_DUMPED) and si_status (the exit code or the
// signal number).
struct ExitStatus {
  int code = 0;
  int status = 0;

  bool exited() const;
  bool exited_cleanly() const { return exited() && status == 0; }
};

// "SIGSEGV"; "signal 99" for a number without a name.
std::string signal_name(int signo);

// A subprocess job's end: "exited with code 3", "killed by SIGSEGV".
std::string describe_exit(ExitStatus exit);

// A worker process's end, as its job's error reads: "worker killed by signal 11 (SIGSEGV)",
// "worker exited with status 3". A SIGXCPU names the per-job CPU limit when there is one
// (`cpu_seconds_per_job` > 0, --worker-cpu), since that is what sent it.
std::string describe_worker_exit(ExitStatus exit, std::uint64_t cpu_seconds_per_job);

}  // namespace jobd::exec::posix
