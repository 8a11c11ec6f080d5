#include "config/cpus.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

namespace jobd::config {
namespace {

constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The value of a cgroup file: its text without the trailing newline.
std::string_view trim_end(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  return text;
}

std::optional<long long> parse_positive(std::string_view text) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

// CPUs in the affinity mask, with a mask sized for machines of more than CPU_SETSIZE CPUs.
unsigned affinity_cpus(unsigned online) {
  const unsigned size = std::max(online, 1024u);
  cpu_set_t* set = CPU_ALLOC(size);
  if (set == nullptr) return online;
  const std::size_t bytes = CPU_ALLOC_SIZE(size);
  unsigned count = online;
  if (sched_getaffinity(0, bytes, set) == 0) count = static_cast<unsigned>(CPU_COUNT_S(bytes, set));
  CPU_FREE(set);
  return std::max(count, 1u);
}

}  // namespace

unsigned CpuBudget::usable() const {
  unsigned cpus = std::max(affinity, 1u);
  if (quota) cpus = std::min(cpus, static_cast<unsigned>(std::max(1.0, std::ceil(*quota))));
  return cpus;
}

std::string CpuBudget::describe() const {
  std::ostringstream text;
  text << usable() << (usable() == 1 ? " CPU" : " CPUs") << " (" << online << " online, affinity " << affinity
       << ", ";
  if (quota)
    text << "cgroup quota " << *quota;
  else
    text << "no cgroup quota";
  text << ")";
  return text.str();
}

std::optional<double> parse_cpu_max(std::string_view text) {
  text = trim_end(text);
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto quota = parse_positive(text.substr(0, space));  // "max": no quota
  const auto period = parse_positive(text.substr(space + 1));
  if (!quota || !period) return std::nullopt;
  return static_cast<double>(*quota) / static_cast<double>(*period);
}

std::optional<double> parse_cfs_quota(std::string_view quota, std::string_view period) {
  const auto q = parse_positive(trim_end(quota));  // -1: no quota
  const auto p = parse_positive(trim_end(period));
  if (!q || !p) return std::nullopt;
  return static_cast<double>(*q) / static_cast<double>(*p);
}

std::optional<std::string> cgroup_path(std::string_view proc_self_cgroup, std::string_view v1_controller) {
  while (!proc_self_cgroup.empty()) {
    const auto end = proc_self_cgroup.find('\n');
    std::string_view line = proc_self_cgroup.substr(0, end);
    proc_self_cgroup.remove_prefix(end == std::string_view::npos ? proc_self_cgroup.size() : end + 1);
    // ID:CONTROLLERS:PATH, where PATH may itself hold colons.
    const auto first = line.find(':');
    const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    std::string_view controllers = line.substr(first + 1, second - first - 1);
    const std::string_view path = line.substr(second + 1);
    if (!path.starts_with('/')) continue;
    if (v1_controller.empty()) {
      if (line.substr(0, first) == "0" && controllers.empty()) return std::string(path);
      continue;
    }
    while (!controllers.empty()) {
      const auto comma = controllers.find(',');
      if (controllers.substr(0, comma) == v1_controller) return std::string(path);
      controllers.remove_prefix(comma == std::string_view::npos ? controllers.size() : comma + 1);
    }
  }
  return std::nullopt;
}

std::optional<double> cgroup_quota(const std::string& root, const std::string& path) {
  std::optional<double> smallest;
  std::string at = path;
  for (;;) {
    if (at.find("/..") != std::string::npos) break;  // outside this namespace's view: stop
    const std::string dir = root + (at == "/" ? "" : at);
    std::optional<double> quota;
    if (const auto max = read_file(dir + "/cpu.max")) {
      quota = parse_cpu_max(*max);
    } else if (const auto cfs = read_file(dir + "/cpu.cfs_quota_us")) {
      if (const auto period = read_file(dir + "/cpu.cfs_period_us")) quota = parse_cfs_quota(*cfs, *period);
    }
    if (quota && (!smallest || *quota < *smallest)) smallest = quota;
    if (at == "/" || at.empty()) break;
    const auto slash = at.rfind('/');
    at = slash == 0 ? "/" : at.substr(0, slash);
  }
  return smallest;
}

CpuBudget cpu_budget() {
  CpuBudget budget;
  budget.online = std::max(1u, std::thread::hardware_concurrency());
  budget.affinity = affinity_cpus(budget.online);
  const auto self = read_file("/proc/self/cgroup");
  if (!self) return budget;
  // v2 (a unified hierarchy, or the "unified" mount of a hybrid one, which then has no cpu
  // controller), and v1's cpu controller: the smallest quota found binds.
  std::optional<double> quotas[3];
  if (const auto path = cgroup_path(*self)) {
    quotas[0] = cgroup_quota(kCgroupRoot, *path);
    quotas[1] = cgroup_quota(std::string(kCgroupRoot) + "/unified", *path);
  }
  if (const auto path = cgroup_path(*self, "cpu"))
    quotas[2] = cgroup_quota(std::string(kCgroupRoot) + "/cpu", *path);
  for (const auto& quota : quotas)
    if (quota && (!budget.quota || *quota < *budget.quota)) budget.quota = quota;
  return budget;
}

}  // namespace jobd::config
