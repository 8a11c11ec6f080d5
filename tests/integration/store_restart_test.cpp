// The SQLite store under a real jobd, across real restarts on one file: kill -9 under load
// loses no acknowledged job, queued jobs run again and running ones come back interrupted;
// idempotency keys and retention survive a restart; a file another jobd holds, or that is
// not a jobd store, stops start-up with one line.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "harness.hpp"
#include "store_support.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The mix the clients submit: loop, thread and process jobs, a few of them long (running when
// jobd is killed).
json job_for(std::uint64_t n) {
  switch (n % 10) {
    case 0: return {{"kind", "sleep"}, {"params", {{"ms", 1000}}}};
    case 1: return {{"kind", "spin"}, {"executor", "thread"}, {"params", {{"ms", 20}}}};
    case 2:
    case 3: return {{"kind", "primes"}, {"executor", "process"}, {"params", {{"n", 1000}}}};
    case 4:
    case 5: return {{"kind", "primes"}, {"executor", "thread"}, {"params", {{"n", 1000}}}};
    default: return {{"kind", "echo"}, {"params", {{"n", n}}}};
  }
}

// Waits until no listed job is queued or running; returns every job.
std::map<std::string, json> settled(std::uint16_t port) {
  std::map<std::string, json> jobs;
  eventually(
      [&] {
        jobs = list_all(port);
        for (const auto& [id, job] : jobs) {
          if (job["state"] == "queued" || job["state"] == "running") return false;
        }
        return true;
      },
      15s);
  return jobs;
}

struct Recovered {
  std::uint64_t total = 0, queued = 0, interrupted = 0, retried = 0, finished = 0, failed = 0;
};

Recovered recovered_line(const std::string& log) {
  static const std::regex line(
      R"(recovered (\d+) jobs \(queued (\d+), interrupted (\d+), retried (\d+), finished (\d+), failed (\d+)\))");
  std::smatch m;
  Recovered r;
  if (!std::regex_search(log, m, line)) return r;
  r.total = std::stoull(m[1]);
  r.queued = std::stoull(m[2]);
  r.interrupted = std::stoull(m[3]);
  r.retried = std::stoull(m[4]);
  r.finished = std::stoull(m[5]);
  r.failed = std::stoull(m[6]);
  return r;
}

}  // namespace

TEST(StoreRestart, KillNineUnderLoadLosesNoAcknowledgedJobAndInterruptsTheRunningOnes) {
  StoreDir dir;
  std::mt19937 random(20261128);
  std::set<std::string> acked;                // every id that got a 2xx, over all rounds
  std::map<std::string, std::string> finals;  // a final state seen once never changes
  std::uint64_t interrupted_seen = 0;
  constexpr int kRounds = 5;
  for (int round = 0; round <= kRounds; ++round) {
    JobdProcess server(store_jobd_args(dir));
    // What the previous rounds acknowledged is all there, and settles: queued jobs ran, running
    // ones were interrupted.
    const Recovered recovered = recovered_line(server.log());
    if (round > 0) {
      EXPECT_EQ(recovered.total, recovered.queued + recovered.interrupted + recovered.finished)
          << server.log();
      EXPECT_EQ(recovered.retried + recovered.failed, 0u) << server.log();
      EXPECT_GE(recovered.total, acked.size()) << "round " << round;
    }
    const auto round_started = std::chrono::steady_clock::now();
    const auto jobs = settled(server.port());
    std::cout << "round " << round << ": " << acked.size() << " acknowledged so far, " << jobs.size()
              << " stored, recovered " << recovered.queued << " queued, " << recovered.interrupted
              << " interrupted; settled in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                       round_started)
                     .count()
              << " ms\n";
    EXPECT_EQ(jobs.size(), recovered.total) << "every stored job is listed, round " << round;
    std::size_t missing = 0;
    for (const auto& id : acked) {
      const auto job = jobs.find(id);
      if (job == jobs.end()) {
        ++missing;
        continue;
      }
      const std::string state = job->second["state"];
      EXPECT_TRUE(state == "succeeded" || state == "failed") << id << ": " << job->second.dump();
      if (state == "failed") {
        const auto full = get(server.port(), "/v1/jobs/" + id).json();
        EXPECT_EQ(full["error"]["type"], "interrupted") << full.dump();
      }
      const auto seen = finals.emplace(id, state).first;
      EXPECT_EQ(seen->second, state) << id << " changed its final state across a restart";
    }
    EXPECT_EQ(missing, 0u) << "acknowledged jobs lost, round " << round << " of " << acked.size();
    interrupted_seen += recovered.interrupted;
    if (round == kRounds) break;

    // Load, then kill -9 at a random moment.
    std::mutex mutex;
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> next{static_cast<std::uint64_t>(round) * 1'000'000};
    std::vector<std::thread> clients;
    clients.reserve(2);
    for (int c = 0; c < 2; ++c) {
      clients.emplace_back([&, c] {
        while (!stop) {
          HttpResult answer;
          try {
            // One client waits for its jobs' ends (?wait): their inserts are held, then written
            // final, or as they are after the hold (Scheduler::submit); the other gets its 202 at once.
            answer = http_request(server.port(), "POST", c == 0 ? "/v1/jobs" : "/v1/jobs?wait=1",
                                  job_for(next++).dump(), {{"Content-Type", "application/json"}}, 2s);
          } catch (const std::runtime_error&) {  // refused: jobd is gone
          }
          if (answer.status == 202 || answer.status == 200) {
            std::lock_guard lock(mutex);
            acked.insert(answer.json()["id"].get<std::string>());
          } else if (answer.status == 0) {
            std::this_thread::sleep_for(5ms);  // killed: wait for the round to end
          }
        }
      });
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(200, 700)(random)));
    EXPECT_EQ(server.stop(SIGKILL, 5s), 128 + SIGKILL);
    stop = true;
    for (auto& client : clients) client.join();
  }
  EXPECT_GT(acked.size(), 100u) << "the load did not reach jobd";
  EXPECT_GT(interrupted_seen, 0u) << "no kill caught a running job: the test proved less than it says";
}

TEST(StoreRestart, AnIdempotencyKeyNamesTheSameJobAfterARestart) {
  StoreDir dir;
  const json spec = {{"kind", "echo"}, {"params", {{"a", 1}}}, {"idempotency_key", "restart-key"}};
  std::string id;
  {
    JobdProcess server(store_jobd_args(dir));
    const auto first = submit(server.port(), spec, "?wait=5");
    ASSERT_EQ(first.status, 200) << first.body;
    id = first.json()["id"];
    server.stop(SIGKILL, 5s);
  }
  JobdProcess server(store_jobd_args(dir));
  const auto again = submit(server.port(), spec);
  EXPECT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(again.json()["id"], id);
  EXPECT_EQ(again.header("idempotent-replayed"), "true");
  EXPECT_EQ(again.json()["state"], "succeeded");
  const auto conflict =
      submit(server.port(), {{"kind", "echo"}, {"params", {{"a", 2}}}, {"idempotency_key", "restart-key"}});
  EXPECT_EQ(conflict.status, 422) << conflict.body;
}

TEST(StoreRestart, RetentionContinuesAcrossARestartAndAnEvictedJobStaysGone) {
  StoreDir dir;
  std::string id;
  {
    JobdProcess server(store_jobd_args(dir, {"--retention", "2s"}));
    const auto done = submit(server.port(), {{"kind", "echo"}, {"params", json::object()}}, "?wait=5");
    ASSERT_EQ(done.status, 200) << done.body;
    id = done.json()["id"];
    server.stop(SIGKILL, 5s);
  }
  {
    JobdProcess server(store_jobd_args(dir, {"--retention", "2s"}));
    EXPECT_EQ(get(server.port(), "/v1/jobs/" + id).status, 200) << "kept for its retention";
    EXPECT_TRUE(eventually([&] { return get(server.port(), "/v1/jobs/" + id).status == 404; }, 5s))
        << "evicted once its retention passed";
    EXPECT_EQ(server.stop(SIGTERM), 0);
  }
  JobdProcess server(store_jobd_args(dir, {"--retention", "2s"}));
  EXPECT_EQ(get(server.port(), "/v1/jobs/" + id).status, 404) << "its row was removed";
  EXPECT_EQ(server.log().find("recovered"), std::string::npos) << "no job came back: " << server.log();
  EXPECT_EQ(list_all(server.port()).size(), 0u);
}

// The store deletes evicted rows later, in ranges (JobStore::evict): a kill -9 leaves the rows
// of jobs evicted since the last such delete in the file, as the finished jobs they were.
// Start-up evicts them again, by the limits and by retention, before anybody can read them.
TEST(StoreRestart, JobsEvictedBeforeAKillNineStayGoneThoughTheirRowsWereStillInTheFile) {
  StoreDir dir;
  const auto args = store_jobd_args(dir, {"--max-jobs", "5", "--retention", "3s"});
  std::vector<std::string> ids;
  {
    JobdProcess server(args);
    for (int n = 0; n < 30; ++n) {
      const auto done = submit(server.port(), {{"kind", "echo"}, {"params", {{"n", n}}}}, "?wait=5");
      ASSERT_EQ(done.status, 200) << done.body;
      ids.push_back(done.json()["id"]);
    }
    for (std::size_t i = 0; i + 5 < ids.size(); ++i)
      ASSERT_EQ(get(server.port(), "/v1/jobs/" + ids[i]).status, 404) << "evicted by --max-jobs";
    server.stop(SIGKILL, 5s);
  }
  EXPECT_EQ(sqlite_query(dir.file(), "SELECT count(*) FROM jobs"), "30") << "the deletes were deferred";
  {
    JobdProcess server(args);
    for (std::size_t i = 0; i < ids.size(); ++i)
      EXPECT_EQ(get(server.port(), "/v1/jobs/" + ids[i]).status, i + 5 < ids.size() ? 404 : 200) << i;
    EXPECT_EQ(list_all(server.port()).size(), 5u);
    // Now past their retention: the sweep evicts them, and the kill leaves their rows behind.
    EXPECT_TRUE(eventually([&] { return list_all(server.port()).empty(); }, 10s));
    server.stop(SIGKILL, 5s);
  }
  EXPECT_NE(sqlite_query(dir.file(), "SELECT count(*) FROM jobs"), "0") << "the deletes were deferred";
  {
    JobdProcess server(args);
    for (const auto& id : ids) EXPECT_EQ(get(server.port(), "/v1/jobs/" + id).status, 404) << id;
    EXPECT_EQ(list_all(server.port()).size(), 0u);
    EXPECT_EQ(server.stop(SIGTERM), 0);
  }
  EXPECT_EQ(sqlite_query(dir.file(), "SELECT count(*) FROM jobs"), "0") << "a clean stop deletes them";
}

TEST(StoreRestart, ASecondJobdOnTheSameFileIsRefusedNamingThePidOfTheFirst) {
  StoreDir dir;
  JobdProcess first(store_jobd_args(dir));
  const auto second = run_store_jobd_until_exit("--store " + dir.uri());
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_NE(second.output.find("pid " + std::to_string(first.pid())), std::string::npos) << second.output;
  EXPECT_EQ(std::count(second.output.begin(), second.output.end(), '\n'), 1) << "one line: " << second.output;
  EXPECT_EQ(get(first.port(), "/readyz").status, 200) << "the first one is untouched";
}

TEST(StoreRestart, AFileThatIsNotAJobdStoreOrIsNewerStopsStartUpWithOneLine) {
  StoreDir dir;
  {
    std::ofstream garbage(dir.file("garbage.db"), std::ios::binary);
    for (int i = 0; i < 512; ++i) garbage << "this is not a database, whatever its name says. ";
  }
  std::string error;
  sqlite_query(dir.file("foreign.db"), "CREATE TABLE accounts (id INTEGER PRIMARY KEY)", &error);
  ASSERT_EQ(error, "");
  {
    JobdProcess server({"--store", dir.uri("newer.db"), "--workers", "0"});
    EXPECT_EQ(server.stop(SIGTERM), 0);
  }
  sqlite_query(dir.file("newer.db"), "PRAGMA user_version = 999", &error);
  ASSERT_EQ(error, "");
  for (const auto& [file, expected] : std::vector<std::pair<std::string, std::string>>{
           {"garbage.db", "is not an SQLite database"},
           {"foreign.db", "of another application"},
           {"newer.db", "newer than this jobd knows"},
       }) {
    const auto run = run_store_jobd_until_exit("--store " + dir.uri(file));
    EXPECT_EQ(run.exit_code, 1) << file << ": " << run.output;
    EXPECT_NE(run.output.find(expected), std::string::npos) << file << ": " << run.output;
    EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << "one line: " << run.output;
  }
}

TEST(StoreRestart, AQueuedJobRunsAfterARestartWithAFreshDeadlineAndOneWhoseKindIsGoneEndsSayingWhy) {
  StoreDir dir;
  std::string finished, gone, late, running;
  {
    JobdProcess server({"--test-kinds", "--store", dir.uri(), "--workers", "0", "--threads", "1"});
    const auto done =
        submit(server.port(), {{"kind", "spin"}, {"executor", "thread"}, {"params", {{"ms", 0}}}}, "?wait=5");
    ASSERT_EQ(done.status, 200) << done.body;
    finished = done.json()["id"];
    // The one pool thread is busy, so the next thread job stays queued with a short deadline.
    const auto busy =
        submit(server.port(), {{"kind", "spin"}, {"executor", "thread"}, {"params", {{"ms", 3000}}}});
    ASSERT_EQ(busy.status, 202) << busy.body;
    running = busy.json()["id"];
    const auto queued =
        submit(server.port(),
               {{"kind", "primes"}, {"executor", "thread"}, {"params", {{"n", 10}}}, {"timeout_ms", 1500}});
    ASSERT_EQ(queued.status, 202) << queued.body;
    late = queued.json()["id"];
    const auto blocked =
        submit(server.port(), {{"kind", "chatter"}, {"params", {{"events", 100}, {"delay_ms", 50}}}});
    ASSERT_EQ(blocked.status, 202) << blocked.body;
    gone = blocked.json()["id"];
    EXPECT_EQ(server.stop(SIGKILL, 5s), 128 + SIGKILL);
  }
  std::this_thread::sleep_for(1600ms);  // longer than the queued job's timeout
  // Without --test-kinds: spin and chatter are no longer registered.
  JobdProcess server({"--store", dir.uri(), "--workers", "0"});
  const auto record = [&](const std::string& id) { return get(server.port(), "/v1/jobs/" + id).json(); };
  EXPECT_EQ(record(finished)["state"], "succeeded") << "a finished job of a gone kind is kept as it was";
  const auto of_gone = record(gone);
  EXPECT_EQ(of_gone["state"], "failed") << of_gone.dump();
  EXPECT_EQ(of_gone["error"]["type"], "internal") << of_gone.dump();
  EXPECT_NE(of_gone["error"]["message"].get<std::string>().find("not registered"), std::string::npos)
      << of_gone.dump();
  // A timeout covers one attempt from its dispatch: time spent stopped is not the job's.
  const auto of_late = get(server.port(), "/v1/jobs/" + late + "?wait=5").json();
  EXPECT_EQ(of_late["state"], "succeeded") << of_late.dump();
  EXPECT_EQ(record(running)["state"], "failed")
      << "spin is gone too: its kind, not the interruption, is named";
  const Recovered recovered = recovered_line(server.log());
  EXPECT_EQ(recovered.total, 4u) << server.log();
  EXPECT_EQ(recovered.finished, 1u) << server.log();
  EXPECT_EQ(recovered.queued, 1u) << server.log();
  EXPECT_EQ(recovered.failed, 2u) << server.log();
  const auto listed = get(server.port(), "/v1/jobs?kind=spin").json();
  EXPECT_EQ(listed["jobs"].size(), 2u) << listed.dump();
}
