// jobctl bench against a real jobd: its report accounts for exactly the jobs the server has,
// failures by error type and refusals by status, jobs that outlast the wait, and a timed run.
#include <gtest/gtest.h>

#include "harness.hpp"
#include "jobctl_process.hpp"

using namespace jobd::testing;
using nlohmann::json;

namespace {

TEST(JobctlBench, CountsMatchTheServersJobTotals) {
  JobdProcess server;
  auto result = jobctl(server.port(), {"bench", "echo", "--params", R"({"x":1})", "-n", "300", "-c", "8",
                                       "--json", "--quiet"});
  ASSERT_EQ(result.code, 0) << result;
  const json report = result.json_out();
  EXPECT_EQ(report["submitted"], 300);
  EXPECT_EQ(report["accepted"], 300);
  EXPECT_EQ(report["succeeded"], 300);
  EXPECT_EQ(report["not_succeeded"], 0);
  EXPECT_EQ(report["outcomes"], json({{"succeeded", 300}}));
  EXPECT_EQ(report["connections"], 8);
  EXPECT_LE(report["connections_opened"].get<int>(), 8 + 2);  // keep-alive: not one per job
  const auto& latency = report["latency_ms"];
  EXPECT_EQ(latency["count"], 300);
  EXPECT_LE(latency["min"].get<double>(), latency["p50"].get<double>());
  EXPECT_LE(latency["p50"].get<double>(), latency["p90"].get<double>());
  EXPECT_LE(latency["p90"].get<double>(), latency["p99"].get<double>());
  EXPECT_LE(latency["p99"].get<double>(), latency["p99_9"].get<double>());
  EXPECT_LE(latency["p99_9"].get<double>(), latency["max"].get<double>());
  EXPECT_GT(report["jobs_per_second"].get<double>(), 0.0);

  const auto jobs = server_jobs(server.port(), "echo");
  EXPECT_EQ(jobs.size(), 300u);
  for (const auto& job : jobs) EXPECT_EQ(job["state"], "succeeded");
}

TEST(JobctlBench, CountsFailuresByErrorTypeAndRefusalsByStatus) {
  // One thread, a queue of one: most of 12 simultaneous 300 ms spins are refused with 429.
  JobdProcess server({"--test-kinds", "--threads", "1", "--queue-depth", "1"});
  auto refused = jobctl(server.port(), {"bench", "spin", "--param", "ms=300", "-e", "thread", "-n", "12",
                                        "-c", "12", "--json", "--quiet"});
  EXPECT_EQ(refused.code, 1) << refused;
  const json report = refused.json_out();
  EXPECT_EQ(report["submitted"], 12);
  const auto refusals = report["refusals_by_status"].value("429", 0);
  EXPECT_GT(refusals, 0) << report.dump(2);
  EXPECT_EQ(report["outcomes"].value("refused: HTTP 429 queue-full", 0), refusals) << report.dump(2);
  EXPECT_EQ(report["accepted"].get<int>() + refusals, 12);
  EXPECT_EQ(server_jobs(server.port(), "spin").size(), report["accepted"].get<std::size_t>());

  // On the loop executor: the one-slot thread queue above would refuse some of them.
  auto failed = jobctl(server.port(), {"bench", "fail", "--param", "message=x", "-e", "loop", "-n", "20",
                                       "-c", "4", "--json", "--quiet"});
  EXPECT_EQ(failed.code, 1) << failed;
  EXPECT_EQ(failed.json_out()["outcomes"], json({{"failed: kind-failed", 20}})) << failed;
  EXPECT_TRUE(one_line(failed.err)) << failed;
  EXPECT_EQ(server_jobs(server.port(), "fail").size(), 20u);
}

TEST(JobctlBench, FollowsJobsThatOutlastTheWait) {
  // ?wait=0.1 and 300 ms jobs: every submit answers 202 and the bench long-polls to the end.
  JobdProcess server;
  auto result = jobctl(server.port(), {"bench", "sleep", "--param", "ms=300", "--wait", "100ms", "-n", "6",
                                       "-c", "3", "--json", "--quiet"});
  ASSERT_EQ(result.code, 0) << result;
  const json report = result.json_out();
  EXPECT_EQ(report["succeeded"], 6);
  EXPECT_GE(report["latency_ms"]["min"].get<double>(), 290.0);
}

TEST(JobctlBench, RunsForADurationAndPrintsPlainProgressWhenNotATerminal) {
  JobdProcess server;
  auto result =
      jobctl(server.port(), {"bench", "sleep", "--param", "ms=50", "-c", "4", "--duration", "2500ms"});
  ASSERT_EQ(result.code, 0) << result;
  EXPECT_EQ(result.err.find('\r'), std::string::npos) << result;  // no in-place rewriting in a pipe
  EXPECT_EQ(result.err.find("\033["), std::string::npos) << result;
  EXPECT_NE(result.err.find(" done "), std::string::npos) << result;  // about one line per second
  for (const char* part : {"throughput", "succeeded", "p50", "p90", "p99", "p99.9", "max", "distribution"}) {
    EXPECT_NE(result.out.find(part), std::string::npos) << part << "\n" << result;
  }
  // 4 connections x 50 ms jobs x 2.5 s: about 200 jobs, all on the server.
  const auto jobs = server_jobs(server.port(), "sleep");
  EXPECT_GT(jobs.size(), 40u);
  EXPECT_LT(jobs.size(), 260u);
}

}  // namespace
