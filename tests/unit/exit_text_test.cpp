// How a child's end reads in a job's error (exec/posix/exit_text): a worker's, with the signal
// by number and name and the CPU limit behind a SIGXCPU, and a subprocess's.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include "exec/posix/exit_text.hpp"

using namespace jobd::exec::posix;

TEST(DescribeWorkerExit, NamesTheSignalByNumberAndName) {
  EXPECT_EQ(describe_worker_exit({CLD_KILLED, SIGSEGV}, 0), "worker killed by signal 11 (SIGSEGV)");
  EXPECT_EQ(describe_worker_exit({CLD_DUMPED, SIGABRT}, 0), "worker killed by signal 6 (SIGABRT)");
  EXPECT_EQ(describe_worker_exit({CLD_KILLED, SIGKILL}, 0), "worker killed by signal 9 (SIGKILL)");
}

TEST(DescribeWorkerExit, GivesTheExitStatus) {
  EXPECT_EQ(describe_worker_exit({CLD_EXITED, 3}, 0), "worker exited with status 3");
}

TEST(DescribeWorkerExit, ExplainsSigxcpuByTheCpuLimit) {
  EXPECT_EQ(describe_worker_exit({CLD_KILLED, SIGXCPU}, 2),
            "worker killed by signal 24 (SIGXCPU): CPU time limit of 2 s per job (--worker-cpu)");
  EXPECT_EQ(describe_worker_exit({CLD_KILLED, SIGXCPU}, 0), "worker killed by signal 24 (SIGXCPU)");
}

TEST(DescribeExit, GivesTheCodeOrTheSignalsName) {
  EXPECT_EQ(describe_exit({CLD_EXITED, 3}), "exited with code 3");
  EXPECT_EQ(describe_exit({CLD_KILLED, SIGTERM}), "killed by SIGTERM");
  EXPECT_TRUE((ExitStatus{CLD_EXITED, 0}).exited_cleanly());
  EXPECT_FALSE((ExitStatus{CLD_KILLED, 0}).exited_cleanly());
}

TEST(SignalName, FallsBackToTheNumber) {
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(signal_name(200), "signal 200");
}
