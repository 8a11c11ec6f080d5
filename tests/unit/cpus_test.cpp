// The CPU budget (config/cpus.hpp): what the cgroup files and /proc/self/cgroup say, read from
// a fake hierarchy; and the affinity part for real, on a thread pinned to one CPU.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "config/cpus.hpp"

using namespace jobd::config;
namespace fs = std::filesystem;

TEST(CpuBudget, CpuMaxReadsQuotaOverPeriodAndMaxAsNoQuota) {
  EXPECT_DOUBLE_EQ(parse_cpu_max("150000 100000\n").value(), 1.5);
  EXPECT_DOUBLE_EQ(parse_cpu_max("50000 100000").value(), 0.5);
  EXPECT_DOUBLE_EQ(parse_cpu_max("400000 100000\n").value(), 4.0);
  EXPECT_FALSE(parse_cpu_max("max 100000\n"));
  for (const char* bad : {"", "\n", "100000", "0 100000", "-5 100000", "100000 0", "1e5 100000", "abc def"})
    EXPECT_FALSE(parse_cpu_max(bad)) << bad;
}

TEST(CpuBudget, CfsQuotaOfCgroupV1ReadsTheSameWayAndMinusOneAsNoQuota) {
  EXPECT_DOUBLE_EQ(parse_cfs_quota("200000\n", "100000\n").value(), 2.0);
  EXPECT_DOUBLE_EQ(parse_cfs_quota("25000", "100000").value(), 0.25);
  EXPECT_FALSE(parse_cfs_quota("-1\n", "100000\n"));
  EXPECT_FALSE(parse_cfs_quota("100000\n", "junk\n"));
}

TEST(CpuBudget, ProcSelfCgroupGivesTheV2PathOrTheV1PathOfTheCpuController) {
  const char* hybrid =
      "9:name=systemd:/\n4:memory:/api/72466f\n2:cpuacct:/acct\n1:cpu:/docker/abc\n0::/user.slice/x.scope\n";
  EXPECT_EQ(cgroup_path(hybrid).value(), "/user.slice/x.scope");
  EXPECT_EQ(cgroup_path(hybrid, "cpu").value(), "/docker/abc");  // not cpuacct's
  EXPECT_EQ(cgroup_path("3:cpu,cpuacct:/kubepods/pod1\n", "cpu").value(), "/kubepods/pod1");
  EXPECT_EQ(cgroup_path("3:cpuacct,cpu:/k\n", "cpu").value(), "/k");
  EXPECT_EQ(cgroup_path("0::/a:b\n").value(), "/a:b");  // a path may hold colons
  EXPECT_EQ(cgroup_path("0::/").value(), "/");
  EXPECT_FALSE(cgroup_path("4:memory:/x\n"));   // v1 only: no v2 path
  EXPECT_FALSE(cgroup_path("0::/x\n", "cpu"));  // v2 only: no v1 cpu controller
  EXPECT_FALSE(cgroup_path("garbage\n\n::\n0:x\n"));
}

class CgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("jobd-cgroup-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "a" / "b" / "c");
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& file, const std::string& text) { std::ofstream(root_ / file) << text; }
  std::optional<double> quota(const std::string& path) { return cgroup_quota(root_.string(), path); }
  fs::path root_;
};

TEST_F(CgroupTree, TheSmallestQuotaOnThePathUpToTheRootBinds) {
  EXPECT_FALSE(quota("/a/b/c"));  // no files at all: no quota
  write("a/b/c/cpu.max", "max 100000\n");
  EXPECT_FALSE(quota("/a/b/c"));
  write("a/b/cpu.max", "250000 100000\n");
  EXPECT_DOUBLE_EQ(quota("/a/b/c").value(), 2.5);  // the parent's limit binds its child
  write("a/cpu.max", "100000 100000\n");
  EXPECT_DOUBLE_EQ(quota("/a/b/c").value(), 1.0);
  write("a/b/c/cpu.max", "50000 100000\n");
  EXPECT_DOUBLE_EQ(quota("/a/b/c").value(), 0.5);
  EXPECT_DOUBLE_EQ(quota("/a").value(), 1.0);  // a child's limit does not bind its parent
  EXPECT_FALSE(quota("/../a"));                // a path outside the namespace's view is not followed
}

TEST_F(CgroupTree, CgroupV1QuotaFilesAreReadWhereThereIsNoCpuMax) {
  write("a/b/cpu.cfs_quota_us", "300000\n");
  write("a/b/cpu.cfs_period_us", "100000\n");
  write("a/cpu.cfs_quota_us", "-1\n");
  write("a/cpu.cfs_period_us", "100000\n");
  EXPECT_DOUBLE_EQ(quota("/a/b/c").value(), 3.0);
}

TEST(CpuBudget, UsableIsTheAffinityCappedByTheQuotaRoundedUpAndNeverZero) {
  EXPECT_EQ((CpuBudget{8, 4, std::nullopt}).usable(), 4u);
  EXPECT_EQ((CpuBudget{8, 4, 1.5}).usable(), 2u);
  EXPECT_EQ((CpuBudget{8, 1, 8.0}).usable(), 1u);
  EXPECT_EQ((CpuBudget{8, 8, 0.2}).usable(), 1u);
  EXPECT_EQ((CpuBudget{8, 0, std::nullopt}).usable(), 1u);
  EXPECT_EQ((CpuBudget{2, 1, std::nullopt}).describe(), "1 CPU (2 online, affinity 1, no cgroup quota)");
  EXPECT_EQ((CpuBudget{4, 4, 1.5}).describe(), "2 CPUs (4 online, affinity 4, cgroup quota 1.5)");
}

// The real reading: a thread pinned to one CPU gets a budget of one; an unpinned one, its mask.
TEST(CpuBudget, TheAffinityMaskOfTheCallingThreadIsCounted) {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  ASSERT_EQ(sched_getaffinity(0, sizeof mask, &mask), 0);
  const unsigned allowed = static_cast<unsigned>(CPU_COUNT(&mask));
  EXPECT_EQ(cpu_budget().affinity, allowed);
  int first = 0;
  while (!CPU_ISSET(first, &mask)) ++first;
  CpuBudget pinned;
  std::thread([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    pinned = cpu_budget();
  }).join();
  EXPECT_EQ(pinned.affinity, 1u);
  EXPECT_EQ(pinned.usable(), 1u);
  EXPECT_GE(pinned.online, allowed);
}
