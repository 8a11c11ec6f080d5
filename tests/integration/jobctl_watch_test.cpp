// jobctl watch: against a real jobd, the events of a job in order (output lines, progress, the
// final state) with the exit code of its outcome; against a stand-in, resuming a broken stream.
//
// Each jobd test watches its job from before the job runs, so that every event it awaits is
// produced while the stream is open (progress reaches only a stream open at that moment). The
// gate: the server runs one job per executor at a time (--workers 1, --max-subprocesses 1); a
// blocker holds the executor, the watched job waits queued behind it, jobctl prints the queued
// state (its stream is subscribed), and only then is the blocker cancelled and the job runs.
// Nothing here waits for a duration to pass.
#include <gtest/gtest.h>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string_view>

#include "harness.hpp"
#include "jobctl_process.hpp"
#include "recording_server.hpp"

using namespace jobd::testing;
using nlohmann::json;

namespace {

// Subprocess kinds: seq prints numbered lines, ls of a missing path fails with a line on stderr,
// hold keeps the one subprocess slot until it is cancelled.
std::string write_command_config(const std::string& directory) {
  std::string path = directory + "/commands.json";
  std::ofstream(path) << R"({"commands": [
    {"name": "seq", "description": "prints 1..n", "program": "/usr/bin/seq",
     "params": [{"name": "n", "type": "integer", "required": true, "minimum": 1, "maximum": 10000,
                 "arg": {"positional": true}}],
     "max_stdout_bytes": 1048576, "max_stderr_bytes": 4096},
    {"name": "ls-missing", "description": "fails on stderr", "program": "/usr/bin/ls",
     "args": ["/nonexistent-jobctl-test"], "max_stdout_bytes": 4096, "max_stderr_bytes": 4096},
    {"name": "hold", "description": "waits until cancelled", "program": "/usr/bin/sleep",
     "args": ["600"], "max_stdout_bytes": 4096, "max_stderr_bytes": 4096}
  ]})";
  return path;
}

// Blockers that hold an executor's only slot until cancelled (both are killed on cancel).
const json kHoldSubprocess = {{"kind", "hold"}, {"params", json::object()}};
const json kHoldProcess = {{"kind", "spin"}, {"params", {{"ms", 600'000}}}, {"executor", "process"}};

// A broken precondition of the gate ends the test with this message (gtest reports the exception).
void require(bool holds, const std::string& what) {
  if (!holds) throw std::runtime_error(what);
}

class JobctlWatch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char directory[] = "/tmp/jobctl-watch-XXXXXX";
    if (::mkdtemp(directory) == nullptr) throw std::runtime_error("mkdtemp");
    directory_ = directory;
    server_ = new JobdProcess({"--test-kinds", "--config", write_command_config(directory_), "--workers", "1",
                               "--max-subprocesses", "1"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
  static std::uint16_t port() { return server_->port(); }
  static std::string state_of(const std::string& id) {
    return get(port(), "/v1/jobs/" + id).json().value("state", "");
  }

  // Runs `jobctl watch <id of job> [options]` with the stream open before `job` starts: `job`
  // waits behind `blocker` until jobctl has printed its queued state. Returns jobctl's output.
  static JobctlOutput watch_from_the_start(const json& job, const json& blocker,
                                           std::vector<std::string> options = {}) {
    const auto held = submit(port(), blocker);
    require(held.status == 202, "blocker not accepted: " + held.body);
    const std::string blocker_id = held.json()["id"];
    require(eventually([&] { return state_of(blocker_id) == "running"; }, 20s), "the blocker never ran");
    const auto queued = submit(port(), job);
    require(queued.status == 202, "job not accepted: " + queued.body);
    const std::string id = queued.json()["id"];

    std::vector<std::string> args = {"watch", id};
    args.insert(args.end(), options.begin(), options.end());
    JobctlProcess watch(port(), args);
    const bool subscribed = watch.wait_for_line(
        [](std::string_view line) { return line.find("queued") != std::string_view::npos; }, 30s);
    require(subscribed, "jobctl never printed the queued state");
    require(state_of(id) == "queued", "the gate did not hold: the job ran before its stream was open");

    const int cancelled = http_request(port(), "DELETE", "/v1/jobs/" + blocker_id).status;
    require(cancelled == 200 || cancelled == 202, "blocker not cancelled: HTTP " + std::to_string(cancelled));
    return watch.finish(60s);
  }

  static JobdProcess* server_;
  static std::string directory_;
};
JobdProcess* JobctlWatch::server_ = nullptr;
std::string JobctlWatch::directory_;

TEST_F(JobctlWatch, PrintsOutputLinesInOrderThenTheFinalState) {
  const auto watched = watch_from_the_start({{"kind", "seq"}, {"params", {{"n", 200}}}}, kHoldSubprocess);
  ASSERT_EQ(watched.code, 0) << watched;
  const auto lines = watched.out_lines();
  // Every event, in order: the two states before any output, each line once, the end.
  std::vector<std::string> expected = {"state     queued", "state     running"};
  for (int i = 1; i <= 200; ++i) expected.push_back("stdout    " + std::to_string(i));
  ASSERT_EQ(lines.size(), expected.size() + 1) << watched;
  EXPECT_EQ(std::vector<std::string>(lines.begin(), lines.end() - 1), expected) << watched;
  EXPECT_TRUE(lines.back().starts_with("state     succeeded")) << watched;
}

TEST_F(JobctlWatch, JsonGivesOneEventPerLineWithIncreasingIds) {
  const auto watched =
      watch_from_the_start({{"kind", "ls-missing"}, {"params", json::object()}}, kHoldSubprocess, {"--json"});
  EXPECT_EQ(watched.code, 1) << watched;  // ls exits 2: the job failed
  const auto events = watched.json_lines();
  ASSERT_GE(events.size(), 4u) << watched;  // queued, running, at least one stderr line, failed
  long long last_id = -1;
  std::size_t stderr_lines = 0;
  for (const auto& event : events) {
    ASSERT_TRUE(event.contains("event") && event.contains("id") && event.contains("data")) << event;
    const long long id = std::stoll(event["id"].get<std::string>());
    EXPECT_GT(id, last_id) << watched;
    last_id = id;
    if (event["event"] == "stderr") {
      ++stderr_lines;
      EXPECT_NE(event["data"]["line"].get<std::string>().find("nonexistent-jobctl-test"), std::string::npos)
          << event;
    }
  }
  EXPECT_EQ(stderr_lines, events.size() - 3) << watched;  // everything between the states
  EXPECT_EQ(events[0]["data"]["state"], "queued") << watched;
  EXPECT_EQ(events[1]["data"]["state"], "running") << watched;
  EXPECT_EQ(events.back()["event"], "state") << watched;
  EXPECT_EQ(events.back()["data"]["state"], "failed") << watched;
}

TEST_F(JobctlWatch, PrintsProgressBeforeTheEnd) {
  // A worker passes on at most one report per 50 ms, the first 50 ms after the job starts; the
  // sieve reports after each of its ~570 segments and takes far longer than that on any machine
  // (it writes 150 million flags), so progress is reported.
  const auto watched = watch_from_the_start(
      {{"kind", "primes"}, {"params", {{"n", 300'000'000}}}, {"executor", "process"}}, kHoldProcess);
  ASSERT_EQ(watched.code, 0) << watched;
  const auto lines = watched.out_lines();
  ASSERT_GE(lines.size(), 4u) << watched;
  EXPECT_EQ(lines[0], "state     queued") << watched;
  EXPECT_EQ(lines[1], "state     running") << watched;
  double last_percent = -1;
  for (std::size_t i = 2; i + 1 < lines.size(); ++i) {
    ASSERT_TRUE(lines[i].starts_with("progress  ")) << watched;
    const double percent = std::stod(lines[i].substr(10));
    EXPECT_GT(percent, last_percent) << watched;
    last_percent = percent;
  }
  EXPECT_TRUE(lines.back().starts_with("state     succeeded")) << watched;
}

TEST_F(JobctlWatch, OfAnUnknownJobExitsThree) {
  auto missing = jobctl(port(), {"watch", "no-such-job"});
  EXPECT_EQ(missing.code, 3) << missing;
  EXPECT_TRUE(one_line(missing.err)) << missing;
}

// --- a stand-in server: a stream that breaks off ----------------------------------------------

std::string sse_event(int id, const std::string& type, const json& data) {
  return "id: " + std::to_string(id) + "\nevent: " + type + "\ndata: " + data.dump() + "\n\n";
}

TEST(JobctlWatchResume, PrintsEventsInOrderAndResumesABrokenStreamWithoutRepeats) {
  // Connection 0 breaks off after three events; connection 1 (which must carry Last-Event-ID)
  // replays them, as a server without history would, then carries on to the final state and
  // stays open: watch must stop at the final state on its own.
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
  const std::string first_three = sse_event(1, "state", {{"id", "j"}, {"state", "running"}}) +
                                  sse_event(2, "progress", {{"fraction", 0.5}, {"text", "half"}}) +
                                  sse_event(3, "stdout", {{"line", "first"}});
  RecordingServer server([&](const std::string&, int connection) -> RecordingServer::Answer {
    if (connection == 0) return {head + first_three, true};
    return {head + first_three + sse_event(4, "stderr", {{"line", "warn"}}) +
                sse_event(5, "stdout", {{"line", "second"}}) + ": comment\n\n" +
                sse_event(6, "state", {{"id", "j"}, {"state", "succeeded"}, {"result", {{"ok", true}}}}),
            false};
  });
  auto watched = jobctl(server.port(), {"watch", "j"}, {}, 20s);
  ASSERT_EQ(watched.code, 0) << watched;
  EXPECT_EQ(watched.out,
            "state     running\n"
            "progress  50.0%  half\n"
            "stdout    first\n"
            "stderr    warn\n"
            "stdout    second\n"
            "state     succeeded  result {\"ok\":true}\n");
  const std::string heads = server.heads();
  EXPECT_NE(heads.find("GET /v1/jobs/j/events HTTP/1.1"), std::string::npos) << heads;
  EXPECT_NE(heads.find("Accept: text/event-stream"), std::string::npos) << heads;
  EXPECT_NE(heads.find("Last-Event-ID: 3"), std::string::npos) << heads;
}

TEST(JobctlWatchResume, GivesUpWithExitThreeWhenTheStreamKeepsBreaking) {
  RecordingServer server([](const std::string&, int) -> RecordingServer::Answer {
    return {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", true};
  });
  auto watched = jobctl(server.port(), {"watch", "j"}, {}, 30s);
  EXPECT_EQ(watched.code, 3) << watched;
  EXPECT_TRUE(one_line(watched.err)) << watched;
}

}  // namespace
