// spawn_rate: how fast this machine can start and reap a trivial process with posix_spawn,
// the way jobd's subprocess executor does for every subprocess job. Sets an upper bound
// on subprocess jobs/s, and tells how long posix_spawn itself blocks its caller (jobd's
// loop thread must not block for more than ~100 us).
//
// Build: g++ -O2 -std=c++20 -Wall -Wextra -o spawn_rate spawn_rate.cpp
// Run:   ./spawn_rate [spawns=2000] [in_flight=4] [program=/bin/true]
// Prints one line per case, e.g.
//   spawn_rate sequential per_s=1550 median_us=640.2 p99_us=900.1 spawn_call_median_us=320.0 n=2000
//   spawn_rate concurrent_4 per_s=... median_us=... ...
// median_us/p99_us: spawn to reap of one child; spawn_call_median_us: the posix_spawn
// call alone (the part a caller waits for before it can do anything else).
//
// Like jobd, each child gets an empty environment and its own process group; argv only,
// never a shell. Standalone on purpose (libc and libstdc++ only).
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

constexpr long kDefaultSpawns = 2000;
constexpr long kDefaultInFlight = 4;
constexpr long kWarmupSpawns = 50;

[[noreturn]] void die(const char* what, int err) {
  std::fprintf(stderr, "spawn_rate: %s: %s\n", what, std::strerror(err));
  std::exit(1);
}

long now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000L + ts.tv_nsec;
}

class Spawner {
 public:
  explicit Spawner(const char* program) : program_(program) {
    if (int e = posix_spawnattr_init(&attr_)) die("posix_spawnattr_init", e);
    if (int e = posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETPGROUP)) die("setflags", e);
    if (int e = posix_spawnattr_setpgroup(&attr_, 0)) die("setpgroup", e);
  }
  ~Spawner() { posix_spawnattr_destroy(&attr_); }
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  // Starts the program; returns its pid and adds the time the call took to call_ns.
  pid_t spawn(std::vector<long>& call_ns) {
    char* argv[] = {const_cast<char*>(program_), nullptr};
    char* envp[] = {nullptr};
    pid_t pid = 0;
    long t0 = now_ns();
    if (int e = posix_spawn(&pid, program_, nullptr, &attr_, argv, envp)) die("posix_spawn", e);
    call_ns.push_back(now_ns() - t0);
    return pid;
  }

 private:
  const char* program_;
  posix_spawnattr_t attr_;
};

pid_t reap(pid_t which) {
  int status = 0;
  pid_t pid;
  do {
    pid = waitpid(which, &status, 0);
  } while (pid < 0 && errno == EINTR);
  if (pid < 0) die("waitpid", errno);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "spawn_rate: child %d did not exit 0 (status %#x)\n", pid, status);
    std::exit(1);
  }
  return pid;
}

double percentile_us(std::vector<long> v, double p) {
  auto k = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return static_cast<double>(v[k]) / 1000.0;
}

void report(const std::string& name, long spawns, long wall_ns, const std::vector<long>& life_ns,
            const std::vector<long>& call_ns) {
  std::printf("spawn_rate %s per_s=%.0f median_us=%.1f p99_us=%.1f spawn_call_median_us=%.1f n=%ld\n",
              name.c_str(), static_cast<double>(spawns) * 1e9 / static_cast<double>(wall_ns),
              percentile_us(life_ns, 50), percentile_us(life_ns, 99), percentile_us(call_ns, 50), spawns);
  std::fflush(stdout);
}

void sequential(Spawner& sp, long spawns) {
  std::vector<long> life_ns, call_ns;
  life_ns.reserve(static_cast<size_t>(spawns));
  call_ns.reserve(static_cast<size_t>(spawns));
  long start = now_ns();
  for (long i = 0; i < spawns; ++i) {
    long t0 = now_ns();
    reap(sp.spawn(call_ns));
    life_ns.push_back(now_ns() - t0);
  }
  report("sequential", spawns, now_ns() - start, life_ns, call_ns);
}

// Keeps `in_flight` children alive at once: each reaped child is replaced at once.
void concurrent(Spawner& sp, long spawns, long in_flight) {
  std::vector<long> life_ns, call_ns;
  life_ns.reserve(static_cast<size_t>(spawns));
  call_ns.reserve(static_cast<size_t>(spawns));
  std::unordered_map<pid_t, long> started;  // pid -> spawn time
  long launched = 0;
  long start = now_ns();
  auto launch = [&] {
    long t0 = now_ns();
    started.emplace(sp.spawn(call_ns), t0);
    ++launched;
  };
  while (launched < std::min(in_flight, spawns)) launch();
  while (!started.empty()) {
    pid_t pid = reap(-1);
    auto it = started.find(pid);
    if (it == started.end()) continue;  // not ours (cannot happen here, but be safe)
    life_ns.push_back(now_ns() - it->second);
    started.erase(it);
    if (launched < spawns) launch();
  }
  report("concurrent_" + std::to_string(in_flight), spawns, now_ns() - start, life_ns, call_ns);
}

long arg_or(int argc, char** argv, int i, long def, long lo, long hi) {
  if (argc <= i) return def;
  char* end = nullptr;
  long v = std::strtol(argv[i], &end, 10);
  if (*end != '\0' || v < lo || v > hi) {
    std::fprintf(stderr, "usage: %s [spawns>=1] [in_flight 1..1024] [program]\n", argv[0]);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  long spawns = arg_or(argc, argv, 1, kDefaultSpawns, 1, 10'000'000);
  long in_flight = arg_or(argc, argv, 2, kDefaultInFlight, 1, 1024);
  const char* program = argc > 3 ? argv[3] : "/bin/true";

  Spawner sp(program);
  {  // warm the page cache and the dynamic loader's caches before timing
    std::vector<long> ignored;
    for (long i = 0; i < kWarmupSpawns; ++i) reap(sp.spawn(ignored));
  }
  sequential(sp, spawns);
  concurrent(sp, spawns, in_flight);
  return 0;
}
