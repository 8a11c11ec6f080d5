// How many CPUs this process may use: the CPUs its affinity mask allows (taskset, cpusets),
// capped by the CPU quota of its cgroup and every ancestor (`docker run --cpus`, Kubernetes
// CPU limits, systemd's CPUQuota; cgroup v2, or v1's cpu controller), rounded up. The defaults
// of --threads, --workers and --max-subprocesses follow it rather than the machine's CPU
// count, and the thread pool spins before parking only when it is more than one (on one CPU a
// spinning thread holds the very core the loop needs to hand it work).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace jobd::config {

struct CpuBudget {
  unsigned online = 1;          // CPUs of the machine (std::thread::hardware_concurrency)
  unsigned affinity = 1;        // CPUs in this process's affinity mask
  std::optional<double> quota;  // CPUs the cgroup quota grants (may be fractional); none: no quota

  // max(1, min(affinity, ceil(quota))).
  unsigned usable() const;
  // For the start-up line: "2 CPUs (2 online, affinity 2, no cgroup quota)".
  std::string describe() const;
};

// This process's budget, read once at start-up. Whatever cannot be read counts as no limit.
CpuBudget cpu_budget();

// The parts, for tests.
// A cgroup v2 cpu.max ("QUOTA PERIOD", in microseconds): QUOTA / PERIOD CPUs, or none for
// "max ..." and for anything malformed.
std::optional<double> parse_cpu_max(std::string_view text);
// The same from cgroup v1's cpu.cfs_quota_us and cpu.cfs_period_us (a quota of -1: none).
std::optional<double> parse_cfs_quota(std::string_view quota, std::string_view period);
// The path of this process's cgroup in /proc/self/cgroup: of the v2 hierarchy ("0::PATH"), or
// with `v1_controller` of the v1 hierarchy that holds that controller ("4:cpu,cpuacct:PATH").
std::optional<std::string> cgroup_path(std::string_view proc_self_cgroup,
                                       std::string_view v1_controller = {});
// The smallest quota of `path` and its ancestors in the hierarchy mounted at `root`, read from
// cpu.max (v2) or cpu.cfs_quota_us and cpu.cfs_period_us (v1): a parent's limit binds its
// children.
std::optional<double> cgroup_quota(const std::string& root, const std::string& path);

}  // namespace jobd::config
