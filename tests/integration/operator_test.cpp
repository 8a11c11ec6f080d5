// What careless operators do: flag values that would break the service, a port file nobody can
// write, stray signals. jobd refuses the first two at start with one line naming the flag, and
// lives through the third.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <thread>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;

namespace {

// Runs jobd with `args` until it exits (at most 10 s): its exit code and everything it printed.
JobdRun run_jobd(const std::string& args) {
  return run_jobd_until_exit("--workers 1 --store memory: " + args);
}

// Whether GET /healthz over [::1]:port answers 200 (the harness speaks IPv4 only).
bool answers_healthz_on_ipv6_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_port = htons(port);
  address.sin6_addr = in6addr_loopback;
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buffer[512];
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;)
      answer.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return answer.starts_with("HTTP/1.1 200");
}

}  // namespace

TEST(Operator, FlagValuesThatWouldBreakTheServiceAreRefusedAtStartNamingTheFlag) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--idle-timeout 3000000h", "--idle-timeout"},               // would wrap: no answer at all
      {"--retention 3000000h", "--retention"},                     // would wrap: evicted at once
      {"--drain-timeout 3000000h", "--drain-timeout"},             // would wrap: cancel at once
      {"--sse-heartbeat 0", "--sse-heartbeat"},                    // a heartbeat storm
      {"--default-timeout 0", "--default-timeout"},                // every job times out
      {"--default-timeout 5m --max-timeout 1m", "--max-timeout"},  // every plain submit refused
      {"--slow-handler 0", "--slow-handler"},                      // a warning every 50 ms
      {"--max-header 1", "--max-header"},                          // no request fits
      {"--thread-policy fifo", "--thread-policy"},                 // real-time: could starve the loop
      {"--worker-policy rr", "--worker-policy"},                   // the same, for the workers
      {"--worker-pipeline 0", "--worker-pipeline"},                // no job could be sent
      {"--thread-yield-us 2000000", "--thread-yield-us"},          // a loop waiting seconds for a CPU
      {"--worker-yield-us 2000000", "--worker-yield-us"},          // the same, behind a worker
  };
  for (const auto& [args, flag] : cases) {
    const JobdRun run = run_jobd(args);
    EXPECT_EQ(run.exit_code, 2) << args << ": " << run.output;
    EXPECT_NE(run.output.find(flag), std::string::npos) << args << ": " << run.output;
    EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << "one line: " << run.output;
  }
}

#if !JOBD_ASAN_BUILD  // the native allocator's memory (harness.hpp)
TEST(Operator, AWorkerMemoryLimitNoWorkerCouldStartUnderIsRefused) {
  const JobdRun run = run_jobd("--worker-memory 1m");
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_NE(run.output.find("--worker-memory"), std::string::npos) << run.output;
}
#endif

TEST(Operator, APortFileThatCannotBeWrittenStopsJobd) {
  const JobdRun run = run_jobd("--port-file /nonexistent-jobd-dir/port");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("--port-file"), std::string::npos) << run.output;
}

TEST(Operator, HupAndUsrSignalsAreIgnoredAndQuitExitsAtOnce) {
  JobdProcess server({"--test-kinds"});
  const auto running = submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 5000}}}});
  ASSERT_EQ(running.status, 202);
  for (int signo : {SIGHUP, SIGUSR1, SIGUSR2}) {
    ASSERT_EQ(::kill(server.pid(), signo), 0);
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(server.running()) << "signal " << signo;
    EXPECT_EQ(get(server.port(), "/healthz").status, 200) << "signal " << signo;
  }
  const auto id = running.json()["id"].get<std::string>();
  EXPECT_EQ(get(server.port(), "/v1/jobs/" + id).json()["state"], "running");  // nothing was stopped
  EXPECT_NE(server.log().find("ignored"), std::string::npos);
  const auto before = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(SIGQUIT, 5s), 128 + SIGQUIT);
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);  // no drain of the 5 s job
}

TEST(Operator, ListenTakesAHostNameAndTheLogSaysWhichAddressItChose) {
  JobdProcess server({"--listen", "localhost:0", "--workers", "0"}, {}, /*wait_ready=*/false);
  std::string line;
  ASSERT_TRUE(eventually([&] {
    const std::string log = server.log();
    const auto at = log.find("listening on");
    if (at == std::string::npos) return false;
    line = log.substr(at, log.find('\n', at) - at);
    return true;
  })) << server.log();
  EXPECT_NE(line.find("localhost"), std::string::npos) << line;
  // localhost is 127.0.0.1 or ::1 first, as the resolver orders it: jobd answers on the one it names.
  const std::string port = std::to_string(server.port());
  if (line.find("[::1]:" + port) != std::string::npos) {
    EXPECT_TRUE(answers_healthz_on_ipv6_loopback(server.port())) << line;
  } else {
    EXPECT_NE(line.find("127.0.0.1:" + port), std::string::npos) << line;
    EXPECT_EQ(get(server.port(), "/healthz").status, 200);
  }
}

TEST(Operator, AListenHostThatDoesNotResolveStopsJobdWithOneLine) {
  const std::string command = "timeout 10 " + std::string(JOBD_BINARY) +
                              " --listen no-such-host.invalid:8080 --workers 0 --store memory: 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), chunk.size(), pipe) != nullptr) output += chunk.data();
  const int status = ::pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << output;
  EXPECT_NE(output.find("no-such-host.invalid"), std::string::npos) << output;
  EXPECT_NE(output.find("--listen"), std::string::npos) << output;
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << "one line: " << output;
}

TEST(Operator, ThreadPolicyIdlePutsEveryPoolThreadAndOnlyThemUnderSchedIdle) {
  JobdProcess jobd({"--workers", "0", "--threads", "3", "--thread-policy", "idle"});
  int idle = 0;
  int other = 0;
  const auto count = [&] {
    idle = other = 0;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(jobd.pid()) + "/task")) {
      const int policy = sched_getscheduler(static_cast<pid_t>(std::stoi(task.path().filename().string())));
      (policy == SCHED_IDLE ? idle : other) += 1;
    }
    return idle >= 3;
  };
  // Each pool thread sets its policy first thing, which may come after /readyz answers (a slow
  // sanitizer build): wait for it, then check that no other thread took it.
  EXPECT_TRUE(eventually(count)) << idle << " threads under SCHED_IDLE";
  EXPECT_EQ(idle, 3);
  EXPECT_GE(other, 1) << "the loop thread stays SCHED_OTHER";
  const int loop_policy = sched_getscheduler(jobd.pid());
  EXPECT_EQ(loop_policy, SCHED_OTHER);
}

namespace {
// jobd started with one CPU of the test's affinity mask. jobd inherits the mask of the thread
// that starts it, which gets its own back at once. Not a thread of its own: the harness's
// PR_SET_PDEATHSIG fires when the starting thread ends.
std::unique_ptr<JobdProcess> start_on_one_cpu(const std::vector<std::string>& args) {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  EXPECT_EQ(sched_getaffinity(0, sizeof mask, &mask), 0);
  int first = 0;
  while (!CPU_ISSET(first, &mask)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  EXPECT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  struct Restore {
    cpu_set_t mask;
    ~Restore() { sched_setaffinity(0, sizeof mask, &mask); }
  } restore{mask};
  return std::make_unique<JobdProcess>(args);
}
}  // namespace

namespace {
// The CPU yields of one long job on the thread pool: primes 10^8 is ~190 sieve segments, each a
// checkpoint, of ~1 ms or more each.
double yields_of_a_long_thread_job(const JobdProcess& jobd) {
  const HttpResult answer =
      submit(jobd.port(), {{"kind", "primes"}, {"executor", "thread"}, {"params", {{"n", 100'000'000}}}},
             "?wait=60");
  EXPECT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(answer.status == 200 ? answer.json().at("state") : "", "succeeded") << answer.body;
  return scraped_metric(jobd.port(), R"(jobd_executor_cpu_yields_total{executor="thread"})");
}
}  // namespace

// A long job on the thread pool gives the CPU away at its checkpoints every --thread-yield-us
// (the metric counts each yield), and never with 0.
TEST(Operator, ThreadYieldGivesTheCpuAwayAtALongJobsCheckpointsAndNeverWithZero) {
  JobdProcess every_ms(
      {"--workers", "0", "--threads", "1", "--thread-yield-us", "1000", "--store", "memory:"});
  EXPECT_GE(yields_of_a_long_thread_job(every_ms), 10) << "a job of ~100 ms or more yields about once a ms";
  JobdProcess never({"--workers", "0", "--threads", "1", "--thread-yield-us", "0", "--store", "memory:"});
  EXPECT_EQ(yields_of_a_long_thread_job(never), 0);
}

// By default pool threads yield only when jobd may use two CPUs or more (its start-up line says
// how many it found): on one, where the loop and the pool share the core, it would cost thread
// jobs half their rate.
TEST(Operator, ThreadYieldIsOnByDefaultWithTwoCpusAndOffWithOne) {
  JobdProcess as_given({"--workers", "0", "--store", "memory:"});
  const bool one_cpu = as_given.log().find("; 1 CPU (") != std::string::npos;
  const double yields = yields_of_a_long_thread_job(as_given);
  if (one_cpu) {
    EXPECT_EQ(yields, 0) << as_given.log();
  } else {
    EXPECT_GE(yields, 10) << as_given.log();
  }
  const auto pinned = start_on_one_cpu({"--workers", "0", "--store", "memory:"});
  EXPECT_NE(pinned->log().find("; 1 CPU ("), std::string::npos) << pinned->log();
  EXPECT_EQ(yields_of_a_long_thread_job(*pinned), 0);
}

namespace {
// The CPU yields of a 100 ms job of the `checkpoints` test kind (a checkpoint every ~100 us) on
// `executor`, as the job's own CpuContext counted them; -1 when the job did not succeed.
std::int64_t yields_of_a_checkpoints_job(const JobdProcess& jobd, const char* executor) {
  const HttpResult answer = submit(
      jobd.port(), {{"kind", "checkpoints"}, {"executor", executor}, {"params", {{"ms", 100}}}}, "?wait=60");
  EXPECT_EQ(answer.status, 200) << answer.body;
  if (answer.status != 200) return -1;
  const nlohmann::json record = answer.json();
  EXPECT_EQ(record.at("state"), "succeeded") << answer.body;
  if (record.at("state") != "succeeded") return -1;
  EXPECT_GE(record.at("result").at("checkpoints").get<std::int64_t>(), 100) << answer.body;
  return record.at("result").at("yields").get<std::int64_t>();
}
}  // namespace

// Worker processes yield the CPU at a job's checkpoints every --worker-yield-us, as pool threads
// do every --thread-yield-us, and never with 0; each flag reaches its own executor only.
TEST(Operator, WorkerYieldGivesTheCpuAwayInAWorkerProcessAndNeverWithZero) {
  JobdProcess every_ms({"--test-kinds", "--workers", "1", "--threads", "1", "--worker-yield-us", "1000",
                        "--thread-yield-us", "0", "--store", "memory:"});
  EXPECT_GE(yields_of_a_checkpoints_job(every_ms, "process"), 10) << "about one a ms";
  EXPECT_EQ(yields_of_a_checkpoints_job(every_ms, "thread"), 0);
  JobdProcess never({"--test-kinds", "--workers", "1", "--threads", "1", "--worker-yield-us", "0",
                     "--thread-yield-us", "1000", "--store", "memory:"});
  EXPECT_EQ(yields_of_a_checkpoints_job(never, "process"), 0);
  EXPECT_GE(yields_of_a_checkpoints_job(never, "thread"), 10);
}

// Unlike the pool's, the workers' yield is off by default, with two CPUs or one (it costs process
// jobs part of their rate: README, --worker-yield-us).
TEST(Operator, WorkerYieldIsOffByDefault) {
  JobdProcess as_given({"--test-kinds", "--workers", "1", "--store", "memory:"});
  EXPECT_EQ(yields_of_a_checkpoints_job(as_given, "process"), 0) << as_given.log();
  const auto pinned = start_on_one_cpu({"--test-kinds", "--workers", "1", "--store", "memory:"});
  EXPECT_EQ(yields_of_a_checkpoints_job(*pinned, "process"), 0);
}

namespace {
// The environment `pid` was executed with (/proc/PID/environ: what execve passed, which later
// setenv/unsetenv calls do not change), NUL-separated.
std::string executed_environment(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}
// The process's name (/proc/PID/comm): what pgrep, top and killall go by.
std::string process_name(pid_t pid) {
  std::string name;
  std::ifstream("/proc/" + std::to_string(pid) + "/comm") >> name;
  return name;
}
}  // namespace

// jobd sizes glibc's per-thread cache by re-executing itself once with GLIBC_TUNABLES
// (app/malloc_tuning.hpp): in place (the pid the harness started is the one executed with the
// tunable, and it serves), and only in a build with glibc's malloc. An operator's own
// GLIBC_TUNABLES is left exactly as it was.
TEST(Operator, JobdSizesMallocsThreadCacheByReexecutingItselfUnlessTheOperatorSetTunables) {
  {
    JobdProcess jobd({"--workers", "0", "--log-level", "debug"});
    const std::string environment = executed_environment(jobd.pid());
    ASSERT_FALSE(environment.empty());
    EXPECT_EQ(get(jobd.port(), "/healthz").status, 200);
    EXPECT_EQ(process_name(jobd.pid()), "jobd") << "not \"exe\" after the re-execution";
    if (JOBD_GLIBC_MALLOC_TUNED) {
      EXPECT_NE(environment.find(std::string("GLIBC_TUNABLES=glibc.malloc.tcache_count=128") + '\0'),
                std::string::npos);
      EXPECT_NE(jobd.log().find("malloc: glibc.malloc.tcache_count=128"), std::string::npos) << jobd.log();
    } else {  // a sanitizer's or another allocator's build
      EXPECT_EQ(environment.find("GLIBC_TUNABLES="), std::string::npos);
      EXPECT_EQ(jobd.log().find("malloc:"), std::string::npos) << jobd.log();
    }
  }
  {
    // A marker nobody of jobd's set (no tunable with it) changes nothing: not the name, not the
    // tuning.
    JobdProcess jobd({"--workers", "0", "--log-level", "debug"}, {"JOBD_MALLOC_TUNED=impostor"});
    EXPECT_EQ(process_name(jobd.pid()), "jobd");
    const std::string environment = executed_environment(jobd.pid());
    EXPECT_EQ(environment.find("GLIBC_TUNABLES=glibc.malloc.tcache_count=128") != std::string::npos,
              JOBD_GLIBC_MALLOC_TUNED);
    EXPECT_EQ(environment.find("JOBD_MALLOC_TUNED=impostor") != std::string::npos, !JOBD_GLIBC_MALLOC_TUNED)
        << "dropped before the re-execution";
  }
  JobdProcess jobd({"--workers", "0", "--log-level", "debug"}, {"GLIBC_TUNABLES=glibc.malloc.perturb=0"});
  const std::string environment = executed_environment(jobd.pid());
  EXPECT_NE(environment.find(std::string("GLIBC_TUNABLES=glibc.malloc.perturb=0") + '\0'), std::string::npos);
  EXPECT_EQ(environment.find("tcache_count"), std::string::npos);
  EXPECT_EQ(environment.find("JOBD_MALLOC_TUNED"), std::string::npos);
  EXPECT_EQ(jobd.log().find("malloc:"), std::string::npos) << jobd.log();
  EXPECT_EQ(get(jobd.port(), "/healthz").status, 200);
}

// An operator who gives jobd one CPU (taskset, a cpuset, `docker run --cpus 1`) gets pools sized
// to what it may use, not to the machine: two pool threads and two workers (the floor, so that a
// long job does not hold every other behind it), and the start-up line says what it found. Two
// pool threads show in the jobs: of three CPU jobs, two run and one waits.

TEST(Operator, GivenOneCpuJobdSizesItsPoolsToItAndSaysSo) {
  const auto jobd = start_on_one_cpu({"--test-kinds", "--store", "memory:"});
  const std::string log = jobd->log();
  EXPECT_NE(log.find("(2 pool threads, 2 workers, queue depth 1024; 1 CPU ("), std::string::npos) << log;
  EXPECT_NE(log.find("affinity 1,"), std::string::npos) << log;

  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    const auto answer =
        submit(jobd->port(), {{"kind", "spin"}, {"executor", "thread"}, {"params", {{"ms", 1500}}}});
    ASSERT_EQ(answer.status, 202) << answer.body;
    ids.push_back(answer.json()["id"].get<std::string>());
  }
  int running = 0;
  int queued = 0;
  EXPECT_TRUE(eventually([&] {
    running = queued = 0;
    for (const auto& id : ids) {
      const std::string state = get(jobd->port(), "/v1/jobs/" + id).json()["state"].get<std::string>();
      running += state == "running";
      queued += state == "queued";
    }
    return running == 2 && queued == 1;
  })) << running
      << " running, " << queued << " queued";
}
