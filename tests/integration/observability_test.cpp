// Seeing inside jobd: Server-Sent Events, Prometheus metrics, the loop-lag monitor and logs.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::vector<SseEvent> read_job_stream(std::uint16_t port, const std::string& id,
                                      const std::string& last = "") {
  RawConnection connection(port);
  connection.send(open_stream_request("/v1/jobs/" + id + "/events", last));
  return parse_sse(connection.read_all(15s));
}

std::string submit_id(std::uint16_t port, const json& body) {
  auto response = submit(port, body);
  EXPECT_EQ(response.status, 202) << response.body;
  return response.json()["id"];
}

}  // namespace

TEST(Events, LoopJobStreamsStatesAndProgressInOrderThenEnds) {
  JobdProcess server;
  const auto id = submit_id(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 1000}}}});
  auto events = read_job_stream(server.port(), id);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.front().type, "state");
  EXPECT_EQ(events.front().data["state"], "queued");
  EXPECT_EQ(events[1].data["state"], "running");
  int progress = 0;
  double last_fraction = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].id, std::to_string(i + 1));  // ids are consecutive: nothing lost
    if (events[i].type == "progress") {
      ++progress;
      EXPECT_GT(events[i].data["fraction"].get<double>(), last_fraction);
      last_fraction = events[i].data["fraction"];
    }
  }
  EXPECT_GE(progress, 5);
  EXPECT_EQ(events.back().type, "state");
  EXPECT_EQ(events.back().data["state"], "succeeded");
  EXPECT_EQ(events.back().data["result"]["slept_ms"], 1000);
}

TEST(Events, ThreadJobReportsProgressWhileWatched) {
  JobdProcess server({"--threads", "1"});
  const auto id = submit_id(server.port(), {{"kind", "primes"}, {"params", {{"n", 400000000}}}});
  auto events = read_job_stream(server.port(), id);
  ASSERT_FALSE(events.empty());
  int progress = 0;
  for (const auto& event : events) progress += event.type == "progress";
  EXPECT_GE(progress, 2);
  EXPECT_EQ(events.back().data["state"], "succeeded");
  EXPECT_EQ(events.back().data["result"]["count"], 21336326);
}

TEST(Events, LastEventIdResumesWithoutLossOrDuplicates) {
  JobdProcess server;
  const auto id = submit_id(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 1000}}}});
  auto all = read_job_stream(server.port(), id);
  ASSERT_GE(all.size(), 6u);
  auto rest = read_job_stream(server.port(), id, all[2].id);
  ASSERT_EQ(rest.size(), all.size() - 3);
  for (std::size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(rest[i].id, all[i + 3].id);
    EXPECT_EQ(rest[i].type, all[i + 3].type);
  }
  EXPECT_EQ(read_job_stream(server.port(), id, all.back().id).size(), 0u);
}

TEST(Events, UnknownJobIs404AndBadResumeIdIs400) {
  JobdProcess server;
  EXPECT_EQ(get(server.port(), "/v1/jobs/ffffffffffffffffffffffffffffffff/events").status, 404);
  const auto id = submit(server.port(), {{"kind", "echo"}}, "?wait=5").json()["id"].get<std::string>();
  // The problem names what was bad: the header, or the query parameter (with its pointer).
  const auto by_header =
      http_request(server.port(), "GET", "/v1/jobs/" + id + "/events", "", {{"Last-Event-ID", "x"}});
  EXPECT_EQ(by_header.status, 400);
  EXPECT_EQ(by_header.json()["type"], "/problems/bad-request") << by_header.body;
  EXPECT_NE(by_header.json()["detail"].get<std::string>().find("Last-Event-ID header"), std::string::npos);
  EXPECT_FALSE(by_header.json().contains("pointer")) << by_header.body;
  const auto by_query = get(server.port(), "/v1/jobs/" + id + "/events?last_event_id=x");
  EXPECT_EQ(by_query.status, 400);
  EXPECT_EQ(by_query.json()["type"], "/problems/invalid-query") << by_query.body;
  EXPECT_EQ(by_query.json()["pointer"], "?last_event_id") << by_query.body;
}

TEST(Events, AllJobsStreamFiltersByKindAndState) {
  JobdProcess server;
  RawConnection watcher(server.port());
  watcher.send(open_stream_request("/v1/events?kind=echo&state=succeeded"));
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 5; ++i) submit(server.port(), {{"kind", "echo"}, {"params", {{"i", i}}}}, "?wait=5");
  submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 1}}}}, "?wait=5");
  auto events = parse_sse(watcher.read_all(1s));
  ASSERT_EQ(events.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(events[i].data["kind"], "echo");
    EXPECT_EQ(events[i].data["state"], "succeeded");
    EXPECT_EQ(events[i].data["params"]["i"], i);
  }
}

TEST(Events, AThreadJobNobodyWatchesShowsAsRunningOnTheAllJobsStreamWhileItRuns) {
  JobdProcess server({"--test-kinds", "--threads", "1"});
  RawConnection watcher(server.port());
  watcher.send(open_stream_request("/v1/events?state=running"));
  ASSERT_TRUE(eventually(
      [&] { return metric_value(get(server.port(), "/metrics").body, "jobd_sse_subscribers") == 1; }));
  // Nobody streams this job's own events: its start is the pool thread's alone to report.
  const auto id =
      submit_id(server.port(), {{"kind", "spin"}, {"executor", "thread"}, {"params", {{"ms", 3000}}}});
  const auto events = parse_sse(watcher.read_all(1500ms));
  ASSERT_EQ(events.size(), 1u) << "no running event within 1.5 s of the start";
  EXPECT_EQ(events[0].data["id"], id);
  EXPECT_EQ(events[0].data["state"], "running");
  EXPECT_EQ(get(server.port(), "/v1/jobs/" + id).json()["state"], "running");  // still running
}

TEST(Events, AnUnwatchedThreadJobsHistoryHasItsStartBetweenQueuedAndTheEnd) {
  JobdProcess server({"--threads", "1"});
  const auto done = submit(server.port(), {{"kind", "primes"}, {"params", {{"n", 1000}}}}, "?wait=5");
  ASSERT_EQ(done.status, 200) << done.body;
  const auto events = read_job_stream(server.port(), done.json()["id"]);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].data["state"], "queued");
  EXPECT_EQ(events[1].data["state"], "running");
  EXPECT_EQ(events[2].data["state"], "succeeded");
  // RFC 3339 with milliseconds compares as text.
  EXPECT_LE(events[0].data["at"].get<std::string>(), events[1].data["at"].get<std::string>());
  EXPECT_LE(events[1].data["at"].get<std::string>(), events[2].data["at"].get<std::string>());
  EXPECT_EQ(events[1].data["at"], done.json()["started_at"]);
}

TEST(Events, StalledSubscriberGetsDroppedCountAndSlowsNobody) {
  JobdProcess server({"--sse-buffer", "16"});
  // A subscriber with a tiny receive window that does not read.
  RawConnection stalled(server.port(), 4096);
  stalled.send(open_stream_request("/v1/events"));
  RawConnection reader(server.port());
  reader.send(open_stream_request("/v1/events?kind=echo&state=succeeded"));
  // The healthy subscriber reads all along, on its own thread.
  std::string read_by_reader;
  std::thread reading([&] { read_by_reader = reader.read_all(12s); });
  std::this_thread::sleep_for(100ms);
  const std::string padding(1500, 'p');  // big records fill the stalled socket quickly
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 2000; ++i) {
    auto done = submit(server.port(), {{"kind", "echo"}, {"params", {{"pad", padding}}}}, "?wait=5");
    ASSERT_EQ(done.status, 200);
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 20s);
  // The reading subscriber got every job; the stalled one learns how many it missed.
  std::this_thread::sleep_for(500ms);  // the last events are written after the last answer
  ::shutdown(reader.fd(), SHUT_RDWR);  // ends the reader's read_all
  reading.join();
  // Every event a stream was owed is either delivered or counted in a `dropped` event.
  struct Tally {
    std::uint64_t delivered = 0;
    std::uint64_t dropped = 0;
  };
  auto tally = [](const std::string& stream) {
    Tally t;
    for (const auto& event : parse_sse(stream)) {
      if (event.type == "dropped") t.dropped += event.data["count"].get<std::uint64_t>();
      if (event.type == "state") ++t.delivered;
    }
    return t;
  };
  const Tally read = tally(read_by_reader);
  const Tally missed = tally(stalled.read_all(4s));
  EXPECT_EQ(read.delivered + read.dropped, 2000u);
  // The reader keeps up: on a quiet machine it misses nothing. Its thread starved for more
  // than --sse-buffer batches (a loaded CI machine) may miss a few, counted, never thousands
  // as the stalled stream does.
  EXPECT_LT(read.dropped * 10, missed.dropped) << read.dropped << " dropped for the reader";
  EXPECT_GT(missed.dropped, 0u);
  // Every one of the 3 state events of each job was either delivered or counted as dropped.
  EXPECT_EQ(missed.delivered + missed.dropped, 6000u);
  EXPECT_EQ(get(server.port(), "/healthz").status, 200);
}

TEST(Events, AThousandSubscribersAllSeeTheFinalState) {
  JobdProcess server;
  const auto id = submit_id(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 1500}}}});
  std::vector<std::unique_ptr<RawConnection>> subscribers;
  for (int i = 0; i < 1000; ++i) {
    subscribers.push_back(std::make_unique<RawConnection>(server.port()));
    subscribers.back()->send(open_stream_request("/v1/jobs/" + id + "/events"));
  }
  auto metrics = get(server.port(), "/metrics").body;
  EXPECT_GE(metric_value(metrics, "jobd_sse_subscribers"), 900);
  int complete = 0;
  for (auto& subscriber : subscribers) {
    auto events = parse_sse(subscriber->read_all(10s));
    complete += !events.empty() && events.back().data["state"] == "succeeded";
  }
  EXPECT_EQ(complete, 1000);
}

TEST(Metrics, ExpositionParsesAndCountersMoveAsJobsRun) {
  JobdProcess server({"--test-kinds"});
  const auto before = get(server.port(), "/metrics");
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(before.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  for (int i = 0; i < 7; ++i) submit(server.port(), {{"kind", "echo"}}, "?wait=5");
  submit(server.port(), {{"kind", "fail"}, {"executor", "thread"}}, "?wait=5");
  const auto after = get(server.port(), "/metrics").body;
  EXPECT_EQ(metric_value(after, R"(jobd_jobs_finished_total{kind="echo",executor="loop",state="succeeded"})"),
            7);
  EXPECT_EQ(metric_value(after, R"(jobd_jobs_finished_total{kind="fail",executor="thread",state="failed"})"),
            1);
  EXPECT_EQ(metric_value(after, R"(jobd_jobs_submitted_total{kind="echo",executor="loop"})"), 7);
  EXPECT_GE(metric_value(after, R"(jobd_http_requests_total{route="/v1/jobs",status="200"})"), 8);
  EXPECT_EQ(metric_value(after, R"(jobd_job_run_seconds_count{kind="echo"})"), 7);
  EXPECT_GT(metric_value(after, "process_resident_memory_bytes"), 1e6);
  EXPECT_GE(metric_value(after, R"(jobd_executor_workers{executor="thread"})"), 1);
  // The store (the default, SQLite): every acknowledged job went through a commit.
  EXPECT_GE(metric_value(after, "jobd_store_commit_batch_size_sum"), 8);
  EXPECT_GE(metric_value(after, "jobd_store_commit_seconds_count"), 1);
  EXPECT_EQ(metric_value(after, "jobd_store_errors_total"), 0);
  // One client, one job at a time: each commit's gathering for company ends as soon as the loop
  // has nothing left to run, not by its window (an acknowledgement 200 us later for nothing).
  EXPECT_GE(metric_value(after, R"(jobd_store_commits_total{gathering="idle"})"), 6);
  EXPECT_EQ(metric_value(after, R"(jobd_store_commits_total{gathering="none"})") +
                metric_value(after, R"(jobd_store_commits_total{gathering="count"})") +
                metric_value(after, R"(jobd_store_commits_total{gathering="idle"})") +
                metric_value(after, R"(jobd_store_commits_total{gathering="window"})"),
            metric_value(after, "jobd_store_commit_seconds_count"));
  EXPECT_EQ(metric_value(after, R"(jobd_store_recovered_jobs_total{outcome="finished"})"), 0);

  // A real Prometheus parser reads it (Debian's python3-prometheus-client).
  const std::string path = "/tmp/jobd-metrics-" + std::to_string(::getpid()) + ".txt";
  std::ofstream(path) << after;
  const std::string checker = std::string(JOBD_SOURCE_DIR) + "/tests/unit/check_metrics_format.py";
  const int status = std::system(("/usr/bin/python3 " + checker + " < " + path + " > /dev/null").c_str());
  std::remove(path.c_str());
  EXPECT_EQ(status, 0);
}

TEST(Metrics, LoopLagHistogramAndLogCatchABlockedLoop) {
  JobdProcess server({"--test-kinds", "--slow-handler", "100ms"});
  const auto before =
      metric_value(get(server.port(), "/metrics").body, R"(jobd_event_loop_lag_seconds_bucket{le="0.2048"})");
  auto blocked = submit(server.port(), {{"kind", "block"}, {"params", {{"ms", 400}}}}, "?wait=5");
  ASSERT_EQ(blocked.json()["state"], "succeeded");
  std::this_thread::sleep_for(150ms);
  const auto metrics = get(server.port(), "/metrics").body;
  const double total = metric_value(metrics, "jobd_event_loop_lag_seconds_count");
  const double fast = metric_value(metrics, R"(jobd_event_loop_lag_seconds_bucket{le="0.2048"})");
  EXPECT_GT(total, 0);
  EXPECT_GE(total - fast, 1) << "no lag sample above 0.2 s";
  EXPECT_GE(fast, before);
  const auto log = server.log();
  EXPECT_NE(log.find("event loop blocked"), std::string::npos) << log;
  EXPECT_NE(log.find("block"), std::string::npos);
}

TEST(Logs, AccessLogHasOneLinePerRequest) {
  JobdProcess server({"--access-log"});
  get(server.port(), "/healthz");
  get(server.port(), "/nope");
  EXPECT_TRUE(eventually(
      [&] {
        const auto log = server.log();
        return std::regex_search(log, std::regex(R"(access 127\.0\.0\.1:\d+ GET /healthz 200 \d+B)")) &&
               std::regex_search(log, std::regex(R"(access 127\.0\.0\.1:\d+ GET /nope 404)"));
      },
      2s))
      << server.log();
}

TEST(Logs, JsonFormatWritesOneJsonObjectPerLine) {
  JobdProcess server({"--log-format", "json", "--access-log"});
  get(server.port(), "/healthz?quote=\"x\"");
  server.stop();
  std::istringstream lines(server.log());
  std::string line;
  int parsed = 0;
  while (std::getline(lines, line)) {
    auto object = json::parse(line);  // throws (fails the test) on a bad line
    EXPECT_TRUE(object.contains("ts") && object.contains("level") && object.contains("msg"));
    ++parsed;
  }
  EXPECT_GE(parsed, 3);
}

TEST(Metrics, NoMetricsTurnsCollectionAndTheEndpointOff) {
  JobdProcess server({"--no-metrics"});
  EXPECT_EQ(get(server.port(), "/metrics").status, 404);
  EXPECT_EQ(submit(server.port(), {{"kind", "echo"}}, "?wait=5").status, 200);
}
