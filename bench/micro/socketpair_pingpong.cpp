// socketpair_pingpong: round-trip time of a small message between two processes over an
// AF_UNIX socketpair, the path jobd's process executor takes for every job (RUN frame
// out, RESULT frame back). Measures it unpinned, with both processes on one core, and on
// two different cores, because waking a process on the other core costs several times
// more than switching to it on the same one (DESIGN.md section 6).
//
// Build: g++ -O2 -std=c++20 -Wall -Wextra -o socketpair_pingpong socketpair_pingpong.cpp
// Run:   ./socketpair_pingpong [round_trips=200000] [message_bytes=16]
// Prints one line per case, e.g.
//   socketpair_rtt same_core median_us=8.1 p99_us=12.3 mean_us=8.4 n=200000 bytes=16
//
// Standalone on purpose (libc and libstdc++ only). Single-threaded, so fork() is safe here.
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr long kDefaultRoundTrips = 200000;
constexpr long kDefaultMessageBytes = 16;
constexpr long kMaxMessageBytes = 65536;
constexpr long kWarmupRoundTrips = 2000;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "socketpair_pingpong: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

long now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000L + ts.tv_nsec;
}

// Full-length read or write; false on EOF (read) or error.
bool read_all(int fd, char* buf, size_t len) {
  while (len > 0) {
    ssize_t n = ::read(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool write_all(int fd, const char* buf, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

void pin_to(std::optional<int> cpu, const cpu_set_t& fallback) {
  if (!cpu) {
    if (sched_setaffinity(0, sizeof fallback, &fallback) != 0) die("sched_setaffinity");
    return;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(*cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

struct Case {
  const char* name;
  std::optional<int> parent_cpu;  // nullopt: not pinned
  std::optional<int> child_cpu;
};

void run_case(const Case& c, long round_trips, long bytes, const cpu_set_t& allowed) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) die("socketpair");
  pin_to(c.parent_cpu, allowed);

  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {  // child: echo every message back until the parent closes its end
    ::close(sv[0]);
    pin_to(c.child_cpu, allowed);
    std::vector<char> buf(static_cast<size_t>(bytes));
    while (read_all(sv[1], buf.data(), buf.size()) && write_all(sv[1], buf.data(), buf.size())) {
    }
    _exit(0);
  }
  ::close(sv[1]);
  int fd = sv[0];
  std::vector<char> msg(static_cast<size_t>(bytes), 'x');
  std::vector<long> rtt_ns(static_cast<size_t>(round_trips));

  auto round_trip = [&] {
    if (!write_all(fd, msg.data(), msg.size()) || !read_all(fd, msg.data(), msg.size())) {
      die("ping-pong");
    }
  };
  for (long i = 0; i < kWarmupRoundTrips; ++i) round_trip();
  for (long i = 0; i < round_trips; ++i) {
    long t0 = now_ns();
    round_trip();
    rtt_ns[static_cast<size_t>(i)] = now_ns() - t0;
  }

  ::close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  pin_to(std::nullopt, allowed);

  double mean = static_cast<double>(std::accumulate(rtt_ns.begin(), rtt_ns.end(), 0L)) /
                static_cast<double>(rtt_ns.size());
  auto pct = [&](double p) {
    auto k = static_cast<size_t>(p / 100.0 * static_cast<double>(rtt_ns.size() - 1));
    std::nth_element(rtt_ns.begin(), rtt_ns.begin() + static_cast<long>(k), rtt_ns.end());
    return static_cast<double>(rtt_ns[k]) / 1000.0;
  };
  double median = pct(50);
  double p99 = pct(99);
  std::printf("socketpair_rtt %s median_us=%.2f p99_us=%.2f mean_us=%.2f n=%ld bytes=%ld\n", c.name, median,
              p99, mean / 1000.0, round_trips, bytes);
  std::fflush(stdout);
}

long arg_or(int argc, char** argv, int i, long def, long lo, long hi) {
  if (argc <= i) return def;
  char* end = nullptr;
  long v = std::strtol(argv[i], &end, 10);
  if (*end != '\0' || v < lo || v > hi) {
    std::fprintf(stderr, "usage: %s [round_trips>=1] [message_bytes 1..%ld]\n", argv[0], kMaxMessageBytes);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  long round_trips = arg_or(argc, argv, 1, kDefaultRoundTrips, 1, 100'000'000);
  long bytes = arg_or(argc, argv, 2, kDefaultMessageBytes, 1, kMaxMessageBytes);

  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) die("sched_getaffinity");
  std::vector<int> cpus;
  for (int i = 0; i < CPU_SETSIZE; ++i) {
    if (CPU_ISSET(i, &allowed)) cpus.push_back(i);
  }

  std::vector<Case> cases{{"unpinned", std::nullopt, std::nullopt}, {"same_core", cpus[0], cpus[0]}};
  if (cpus.size() >= 2) {
    cases.push_back({"different_cores", cpus[0], cpus[1]});
  } else {
    std::printf("socketpair_rtt different_cores skipped: only 1 CPU allowed\n");
  }
  for (const Case& c : cases) run_case(c, round_trips, bytes, allowed);
  return 0;
}
