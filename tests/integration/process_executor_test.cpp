// The `process` executor against a real jobd: results, crash isolation, resource limits,
// deadlines and cancellation by kill, recycling, and a shutdown that leaves no process behind.
#include <gtest/gtest.h>
#include <sched.h>

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// A job run to its end through POST ?wait=; the finished record.
json run(std::uint16_t port, const json& body, int wait_s = 20) {
  auto response = submit(port, body, "?wait=" + std::to_string(wait_s));
  EXPECT_EQ(response.status, 200) << response.body;
  return response.status == 200 ? response.json() : json::object();
}

json on_process(std::string kind, json params, std::optional<int> timeout_ms = std::nullopt) {
  json body = {{"kind", std::move(kind)}, {"params", std::move(params)}, {"executor", "process"}};
  if (timeout_ms) body["timeout_ms"] = *timeout_ms;
  return body;
}

bool alive(pid_t pid) {
  // A reaped process is gone from /proc; a zombie still shows (state Z) and counts as alive
  // here, since "no zombies" is part of what the tests check.
  struct stat info {};
  return ::stat(("/proc/" + std::to_string(pid)).c_str(), &info) == 0;
}

// Processes under jobd: the workers, the fork server and its spare worker (and, for a moment,
// the dead ones).
std::size_t process_count(const JobdProcess& server) { return descendants(server.pid()).size(); }
std::size_t full_pool(std::size_t workers) { return workers + 2; }

std::string error_message(const json& job) { return job.value("error", json::object()).value("message", ""); }

}  // namespace

TEST(ProcessExecutor, PrimesOnProcessGiveTheSameCountAsOnThread) {
  JobdProcess server({"--test-kinds", "--workers", "2"});
  const auto on_thread =
      run(server.port(), {{"kind", "primes"}, {"params", {{"n", 1'000'000}}}, {"executor", "thread"}});
  const auto on_proc = run(server.port(), on_process("primes", {{"n", 1'000'000}}));
  EXPECT_EQ(on_proc["state"], "succeeded") << on_proc;
  EXPECT_EQ(on_proc["executor"], "process");
  EXPECT_EQ(on_proc["result"]["count"], 78498);
  EXPECT_EQ(on_proc["result"], on_thread["result"]);
}

TEST(ProcessExecutor, JobRecordNamesAWorkerPidThatIsNotJobds) {
  JobdProcess server({"--workers", "2"});
  const auto job = run(server.port(), on_process("primes", {{"n", 1000}}));
  ASSERT_TRUE(job.contains("worker_pid")) << job;
  const auto worker = job["worker_pid"].get<pid_t>();
  EXPECT_NE(worker, server.pid());
  const auto below = descendants(server.pid());
  EXPECT_NE(std::find(below.begin(), below.end(), worker), below.end()) << "worker is not jobd's descendant";
}

// --worker-policy puts every worker (the spare too) under its policy, and neither the loop nor
// the fork server: a worker is one process, the others are jobd's own.
TEST(ProcessExecutor, WorkerPolicyPutsEveryWorkerAndOnlyThemUnderIt) {
  const std::vector<std::pair<std::string, int>> policies = {
      {"normal", SCHED_OTHER}, {"batch", SCHED_BATCH}, {"idle", SCHED_IDLE}};
  for (const auto& [name, policy] : policies) {
    JobdProcess server({"--workers", "2", "--worker-policy", name});
    const auto job = run(server.port(), on_process("primes", {{"n", 1000}}));
    ASSERT_EQ(job["state"], "succeeded") << name << ": " << job;
    EXPECT_EQ(sched_getscheduler(job["worker_pid"].get<pid_t>()), policy) << name;
    EXPECT_EQ(sched_getscheduler(server.pid()), SCHED_OTHER) << name << ": the loop keeps its own";
    int under = 0;
    int other = 0;
    for (const pid_t pid : descendants(server.pid()))
      (sched_getscheduler(pid) == policy ? under : other) += 1;
    if (policy == SCHED_OTHER) continue;
    EXPECT_GE(under, 2) << name << ": both workers";
    EXPECT_EQ(other, 1) << name << ": only the fork server keeps jobd's policy";
  }
}

TEST(ProcessExecutor, ReadyMeansTheWholePoolIsUp) {
  // JobdProcess returns once /readyz answered 200: by then every worker exists (the spare
  // may still be forking).
  JobdProcess server({"--workers", "3"});
  EXPECT_GE(process_count(server), 3u + 1u);
  EXPECT_TRUE(eventually([&] { return process_count(server) == full_pool(3); }, 1s));
}

TEST(ProcessExecutor, WorkersZeroMeansNoProcessExecutor) {
  JobdProcess server({"--workers", "0"});
  auto refused = submit(server.port(), on_process("primes", {{"n", 10}}));
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_TRUE(descendants(server.pid()).empty());
}

class ProcessCrash : public ::testing::TestWithParam<std::pair<int, const char*>> {};

TEST_P(ProcessCrash, FailsOnlyItsJobNamingTheSignalWhileFiftyOthersSucceed) {
  const auto [signo, name] = GetParam();
  JobdProcess server({"--test-kinds", "--workers", "2"});
  std::vector<json> others(50);
  std::vector<std::thread> clients;
  for (std::size_t i = 0; i < others.size(); ++i) {
    clients.emplace_back([&, i] { others[i] = run(server.port(), on_process("primes", {{"n", 20'000}})); });
  }
  const auto crashed = run(server.port(), on_process("crash", {{"signal", signo}}));
  for (auto& client : clients) client.join();

  EXPECT_EQ(crashed["state"], "failed") << crashed;
  EXPECT_EQ(crashed["error"]["type"], "crashed");
  EXPECT_NE(error_message(crashed).find("signal " + std::to_string(signo) + " (" + name + ")"),
            std::string::npos)
      << error_message(crashed);
  for (const auto& job : others) {
    EXPECT_EQ(job["state"], "succeeded") << job;
    EXPECT_EQ(job["result"]["count"], 2262);
  }
  // Replaced: the pool is back to its size, and the next job runs.
  EXPECT_TRUE(eventually([&] { return process_count(server) == full_pool(2); }, 1s));
  EXPECT_EQ(run(server.port(), on_process("primes", {{"n", 100}}))["state"], "succeeded");
}

INSTANTIATE_TEST_SUITE_P(Signals, ProcessCrash,
                         ::testing::Values(std::pair{SIGSEGV, "SIGSEGV"}, std::pair{SIGABRT, "SIGABRT"},
                                           std::pair{SIGKILL, "SIGKILL"}),
                         [](const auto& param_info) { return std::string(param_info.param.second); });

TEST(ProcessExecutor, AWorkerThatExitsFailsItsJobWithTheStatus) {
  JobdProcess server({"--test-kinds", "--workers", "1"});
  const auto job = run(server.port(), on_process("exit", {{"code", 3}}));
  EXPECT_EQ(job["state"], "failed");
  EXPECT_EQ(job["error"]["type"], "crashed");
  EXPECT_EQ(error_message(job), "worker exited with status 3");
  EXPECT_EQ(run(server.port(), on_process("primes", {{"n", 100}}))["state"], "succeeded");
}

TEST(ProcessExecutor, WorkerStderrGoesToJobdsLogWithItsPid) {
  JobdProcess server({"--test-kinds", "--workers", "1"});
  const auto job = run(server.port(), on_process("exit", {{"code", 4}}));
  const auto line =
      "worker " + std::to_string(job["worker_pid"].get<pid_t>()) + ": exit kind: exiting with status 4";
  EXPECT_TRUE(eventually([&] { return server.log().find(line) != std::string::npos; }, 2s)) << server.log();
}

#if !JOBD_ASAN_BUILD  // the native allocator's memory (harness.hpp)
TEST(ProcessExecutor, AllocationBeyondTheMemoryLimitFailsTheJobNotTheWorker) {
  JobdProcess server({"--test-kinds", "--workers", "1", "--worker-memory", "256m"});
  const auto too_much = run(server.port(), on_process("alloc", {{"mb", 512}}));
  EXPECT_EQ(too_much["state"], "failed") << too_much;
  EXPECT_EQ(too_much["error"]["type"], "out-of-memory");
  // The same worker lives on and still allocates what fits.
  const auto fits = run(server.port(), on_process("alloc", {{"mb", 64}}));
  EXPECT_EQ(fits["state"], "succeeded") << fits;
  EXPECT_EQ(fits["worker_pid"], too_much["worker_pid"]);
}
#endif

TEST(ProcessExecutor, SpinPastItsTimeoutEndsTimedOutPromptlyAndThePoolRecovers) {
  JobdProcess server({"--test-kinds", "--workers", "2"});
  const auto start = Clock::now();
  const auto job = run(server.port(), on_process("spin", {{"ms", 30'000}}, 300));
  const auto took = Clock::now() - start;
  EXPECT_EQ(job["state"], "timed_out") << job;
  EXPECT_LT(took, 300ms + 200ms);
  const auto killed = job["worker_pid"].get<pid_t>();
  EXPECT_TRUE(eventually([&] { return !alive(killed) && process_count(server) == full_pool(2); }, 1s))
      << "pool has " << process_count(server) << " processes";
}

TEST(ProcessExecutor, CancelKillsTheRunningJobsWorker) {
  JobdProcess server({"--test-kinds", "--workers", "1"});
  auto accepted = submit(server.port(), on_process("spin", {{"ms", 30'000}}));
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  const auto id = accepted.json()["id"].get<std::string>();
  json running;
  ASSERT_TRUE(eventually([&] {
    running = get(server.port(), "/v1/jobs/" + id).json();
    return running["state"] == "running";
  }));
  const auto worker = running["worker_pid"].get<pid_t>();
  auto cancelled = http_request(server.port(), "DELETE", "/v1/jobs/" + id);
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(cancelled.json()["state"], "cancelled");
  EXPECT_TRUE(eventually([&] { return !alive(worker); }, 1s));
  const auto next = run(server.port(), on_process("primes", {{"n", 100}}));
  EXPECT_EQ(next["state"], "succeeded");
  EXPECT_NE(next["worker_pid"], running["worker_pid"]);
}

TEST(ProcessExecutor, CancelOfAQueuedJobNeverRunsIt) {
  JobdProcess server({"--test-kinds", "--workers", "1"});
  auto busy = submit(server.port(), on_process("spin", {{"ms", 2'000}}));
  auto queued = submit(server.port(), on_process("primes", {{"n", 100}}));
  ASSERT_EQ(queued.status, 202);
  const auto id = queued.json()["id"].get<std::string>();
  EXPECT_EQ(queued.json()["state"], "queued");
  auto cancelled = http_request(server.port(), "DELETE", "/v1/jobs/" + id);
  EXPECT_EQ(cancelled.status, 200);
  EXPECT_EQ(cancelled.json()["state"], "cancelled");
  EXPECT_FALSE(cancelled.json().contains("worker_pid"));
}

namespace {
// Submits without waiting; the job's id.
std::string submit_async(std::uint16_t port, const json& body) {
  const auto accepted = submit(port, body);
  EXPECT_EQ(accepted.status, 202) << accepted.body;
  return accepted.status == 202 ? accepted.json()["id"].get<std::string>() : "";
}
json final_record(std::uint16_t port, const std::string& id) {
  const auto waited = get(port, "/v1/jobs/" + id + "?wait=20");
  EXPECT_EQ(waited.status, 200) << waited.body;
  return waited.status == 200 ? waited.json() : json::object();
}
}  // namespace

// With --worker-pipeline, jobs that wait are sent ahead to the busy worker: they read as queued
// until it starts them, in order. One cancelled there ends at once, without a worker pid, and
// the worker is killed when it reaches it; the job behind it runs on the replacement.
TEST(ProcessExecutor, JobsSentAheadStartInOrderAndOneCancelledThereNeverReportsAWorker) {
  JobdProcess server({"--test-kinds", "--workers", "1", "--worker-pipeline", "4"});
  const auto port = server.port();
  const std::string first = submit_async(port, on_process("spin", {{"ms", 400}}));
  ASSERT_TRUE(eventually([&] { return get(port, "/v1/jobs/" + first).json()["state"] == "running"; }));
  const std::string second = submit_async(port, on_process("primes", {{"n", 100}}));
  const std::string third = submit_async(port, on_process("primes", {{"n", 100}}));
  const std::string fourth = submit_async(port, on_process("primes", {{"n", 100}}));
  const json waiting = get(port, "/v1/jobs/" + second).json();
  EXPECT_EQ(waiting["state"], "queued") << waiting;
  EXPECT_FALSE(waiting.contains("worker_pid")) << waiting;
  const auto cancelled = http_request(port, "DELETE", "/v1/jobs/" + third);
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(cancelled.json()["state"], "cancelled");

  const json a = final_record(port, first);
  const json b = final_record(port, second);
  const json c = final_record(port, third);
  const json d = final_record(port, fourth);
  EXPECT_EQ(a["state"], "succeeded") << a;
  EXPECT_EQ(b["state"], "succeeded") << b;
  EXPECT_EQ(b["worker_pid"], a["worker_pid"]) << "sent ahead to the busy worker";
  // Started when the worker reached it (after the 400 ms spin), not when it was sent.
  EXPECT_GT(b["started_at"].get<std::string>(), a["started_at"].get<std::string>()) << b << a;
  EXPECT_EQ(c["state"], "cancelled") << c;
  EXPECT_FALSE(c.contains("worker_pid")) << c;
  EXPECT_EQ(d["state"], "succeeded") << d;
  EXPECT_NE(d["worker_pid"], a["worker_pid"]) << "the worker was killed when it reached the cancelled job";
  EXPECT_TRUE(eventually([&] { return !alive(a["worker_pid"].get<pid_t>()); }, 1s));
  EXPECT_EQ(scraped_metric(port, "jobd_worker_restarts_total{cause=\"kill\"}"), 1.0);
}

// A crash in a job sent ahead fails that job alone: the one before it keeps its result (the
// worker's frames are read before its exit is reported, should the exit come first), and the
// one after it goes back to the queue and runs on the replacement.
TEST(ProcessExecutor, AResultWrittenJustBeforeTheWorkerDiesIsNotBlamedForTheCrash) {
  JobdProcess server({"--test-kinds", "--workers", "1", "--worker-pipeline", "4"});
  const auto port = server.port();
  for (int round = 0; round < 5; ++round) {
    const std::string fine = submit_async(port, on_process("spin", {{"ms", 50}}));
    const std::string crash = submit_async(port, on_process("crash", json::object()));
    const std::string after = submit_async(port, on_process("primes", {{"n", 100}}));
    const json a = final_record(port, fine);
    const json b = final_record(port, crash);
    const json c = final_record(port, after);
    EXPECT_EQ(a["state"], "succeeded") << round << ": " << a;
    EXPECT_EQ(b["state"], "failed") << round << ": " << b;
    EXPECT_EQ(b.value("error", json::object()).value("type", ""), "crashed") << b;
    EXPECT_EQ(c["state"], "succeeded") << round << ": " << c;
  }
}

TEST(ProcessExecutor, RecyclesAWorkerAfterMaxJobs) {
  JobdProcess server({"--workers", "1", "--worker-max-jobs", "2"});
  std::vector<json> pids;
  pids.reserve(6);
  for (int i = 0; i < 6; ++i)
    pids.push_back(run(server.port(), on_process("primes", {{"n", 100}}))["worker_pid"]);
  EXPECT_EQ(pids[0], pids[1]);
  EXPECT_NE(pids[1], pids[2]);
  EXPECT_EQ(pids[2], pids[3]);
  EXPECT_NE(pids[3], pids[4]);
  EXPECT_EQ(pids[4], pids[5]);
  EXPECT_TRUE(eventually([&] { return process_count(server) == full_pool(1); }, 1s));
}

TEST(ProcessExecutor, MaxJobsOneGivesAFreshProcessPerJob) {
  JobdProcess server({"--workers", "2", "--worker-max-jobs", "1"});
  std::vector<pid_t> pids;
  pids.reserve(8);
  for (int i = 0; i < 8; ++i)
    pids.push_back(run(server.port(), on_process("primes", {{"n", 100}}))["worker_pid"]);
  std::sort(pids.begin(), pids.end());
  EXPECT_EQ(std::unique(pids.begin(), pids.end()), pids.end());
}

TEST(ProcessExecutor, CpuLimitPerJobKillsWithSigxcpu) {
  JobdProcess server({"--test-kinds", "--workers", "1", "--worker-cpu", "1"});
  const auto job = run(server.port(), on_process("spin", {{"ms", 10'000}}));
  EXPECT_EQ(job["state"], "failed") << job;
  EXPECT_NE(error_message(job).find("SIGXCPU"), std::string::npos) << error_message(job);
  // The budget is per job: a fresh one for the next, on the replacement.
  EXPECT_EQ(run(server.port(), on_process("spin", {{"ms", 300}}))["state"], "succeeded");
}

TEST(ProcessExecutor, SigtermLeavesNoProcessBehind) {
  JobdProcess server({"--test-kinds", "--workers", "2", "--drain-timeout", "200ms"});
  run(server.port(), on_process("primes", {{"n", 100}}));
  // One worker busy with a job that outlives the drain, so shutdown must kill it.
  ASSERT_EQ(submit(server.port(), on_process("spin", {{"ms", 30'000}})).status, 202);
  ASSERT_TRUE(eventually([&] { return process_count(server) == full_pool(2); }, 1s));
  const auto below = descendants(server.pid());
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  for (pid_t pid : below) EXPECT_FALSE(alive(pid)) << "process " << pid << " survived jobd";
}

TEST(ProcessExecutor, QueueBeyondDepthAnswers429) {
  JobdProcess server({"--test-kinds", "--workers", "1", "--queue-depth", "2"});
  int accepted = 0;
  int refused = 0;
  for (int i = 0; i < 5; ++i) {
    auto response = submit(server.port(), on_process("spin", {{"ms", 2'000}}));
    if (response.status == 202) ++accepted;
    if (response.status == 429) {
      ++refused;
      EXPECT_FALSE(response.header("retry-after").empty());
    }
  }
  EXPECT_EQ(accepted, 3);  // one running, two queued
  EXPECT_EQ(refused, 2);
}
