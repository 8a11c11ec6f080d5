// The standard process_* metrics of a Prometheus client, for jobd itself: read from /proc/self
// and getrusage at scrape time (on the thread calling expose()), never cached except the start
// time, which cannot change. Separate from the registry: this is the only code in metrics/ that
// reads the operating system.
#include "metrics/registry.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

namespace jobd::metrics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The readers are all cheap, and all return NaN on failure so that a scrape never throws.

double resident_memory_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (!f) return kNaN;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return kNaN;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return kNaN;
  const int own_fd = dirfd(dir);  // the fd we are listing with is not "open" to the app
  double count = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    if (std::atoi(e->d_name) == own_fd) continue;
    ++count;
  }
  closedir(dir);
  return count;
}

// getrusage instead of parsing utime/stime from /proc/self/stat: one syscall,
// no text parsing, and microsecond rather than clock-tick resolution. Both
// cover all threads of the process.
double cpu_seconds() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return kNaN;
  const auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

// Start time never changes, so it is computed once: boot time (/proc/stat
// btime) + field 22 of /proc/self/stat (start, in clock ticks since boot).
double start_time_seconds() {
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (!std::getline(stat, line)) return kNaN;
  // Field 2 is "(comm)" and comm may hold spaces or ')': skip to the last ')'.
  const auto paren = line.rfind(')');
  if (paren == std::string::npos) return kNaN;
  std::istringstream fields(line.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {  // fields after ')' start at number 3
    if (!(fields >> field)) return kNaN;
  }
  const double start_ticks = std::strtod(field.c_str(), nullptr);

  std::ifstream proc_stat("/proc/stat");
  std::string key;
  double btime = kNaN;
  while (proc_stat >> key) {
    if (key == "btime") {
      proc_stat >> btime;
      break;
    }
    std::getline(proc_stat, line);  // rest of an uninteresting line
  }
  return btime + start_ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

void add_process_metrics(Registry& reg) {
  reg.callback_gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
      .with()
      .set(resident_memory_bytes);
  reg.callback_gauge("process_open_fds", "Number of open file descriptors.").with().set(open_fds);
  reg.callback_counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
      .with()
      .set(cpu_seconds);
  const double start = start_time_seconds();
  reg.callback_gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
      .with()
      .set([start] { return start; });
}

}  // namespace jobd::metrics
