// jobctl against a real jobd: every subcommand, its exit codes (0 succeeded, 1 job did not
// succeed, 2 usage, 3 server or network error), its --json shapes, `watch` printing events in
// order, and `bench` accounting for exactly the jobs the server has. jobctl runs as a child
// process (posix_spawn), as a user or a script would run it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "harness.hpp"

#ifndef JOBCTL_BINARY
#error "JOBCTL_BINARY must name the jobctl executable under test"
#endif

extern char** environ;

using namespace jobd::testing;
using nlohmann::json;

namespace {

struct Outcome {
  int code = -1;  // exit code; 128 + signal when killed
  std::string out;
  std::string err;
  json json_out() const { return json::parse(out); }
  // stdout as one JSON document per line (watch --json).
  std::vector<json> json_lines() const {
    std::vector<json> lines;
    std::size_t start = 0;
    while (start < out.size()) {
      const auto end = out.find('\n', start);
      lines.push_back(json::parse(out.substr(start, end - start)));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return lines;
  }
  std::vector<std::string> out_lines() const {
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
};

std::ostream& operator<<(std::ostream& os, const Outcome& run) {
  return os << "exit " << run.code << "\n--- stdout ---\n" << run.out << "--- stderr ---\n" << run.err;
}

// Runs jobctl with `args` and JOBD_URL / `env` in its environment; kills it after `timeout`.
Outcome jobctl(std::uint16_t port, std::vector<std::string> args, std::vector<std::string> env = {},
               std::chrono::milliseconds timeout = 60s) {
  std::vector<std::string> argv_strings = {JOBCTL_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  env.push_back("PATH=/usr/bin:/bin");
  if (port != 0) env.push_back("JOBD_URL=http://127.0.0.1:" + std::to_string(port));
  std::vector<char*> envp;
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  Outcome run;
  if (spawned != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw std::runtime_error("posix_spawn jobctl failed");
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[65536];
      const auto n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      (i == 0 ? run.out : run.err).append(buffer, static_cast<std::size_t>(n));
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (killed) run.err += "\n[test: jobctl killed after the timeout]";
  return run;
}

// Every job of `kind` the server lists, across pages (independent of jobctl).
std::vector<json> server_jobs(std::uint16_t port, const std::string& kind) {
  std::vector<json> jobs;
  std::string target = "/v1/jobs?limit=1000&kind=" + kind;
  for (;;) {
    auto page = get(port, target);
    if (page.status != 200) throw std::runtime_error("GET /v1/jobs: " + page.body);
    const json body = page.json();
    for (const auto& job : body.at("jobs")) jobs.push_back(job);
    if (!body.at("next_cursor").is_string()) break;
    target = "/v1/jobs?limit=1000&kind=" + kind + "&cursor=" + body.at("next_cursor").get<std::string>();
  }
  return jobs;
}

bool one_line(const std::string& text) { return !text.empty() && text.find('\n') == text.size() - 1; }

// Subprocess kinds for the watch tests: seq prints numbered lines, ls of a missing path fails
// with a line on stderr.
std::string write_command_config() {
  char pattern[] = "/tmp/jobctl-test-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp");
  const std::string path = std::string(pattern) + "/commands.json";
  std::ofstream(path) << R"({"commands": [
    {"name": "seq", "description": "prints 1..n", "program": "/usr/bin/seq",
     "params": [{"name": "n", "type": "integer", "required": true, "minimum": 1, "maximum": 10000,
                 "arg": {"positional": true}}],
     "max_stdout_bytes": 1048576, "max_stderr_bytes": 4096},
    {"name": "ls-missing", "description": "fails on stderr", "program": "/usr/bin/ls",
     "args": ["/nonexistent-jobctl-test"], "max_stdout_bytes": 4096, "max_stderr_bytes": 4096}
  ]})";
  return path;
}

class Jobctl : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    config_ = write_command_config();
    server_ = new JobdProcess({"--test-kinds", "--config", config_});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    std::error_code ignored;
    std::filesystem::remove_all(std::filesystem::path(config_).parent_path(), ignored);
  }
  static std::uint16_t port() { return server_->port(); }
  static Outcome run(std::vector<std::string> args, std::vector<std::string> env = {}) {
    return jobctl(port(), std::move(args), std::move(env));
  }
  // The server answers GET /v1/jobs/{id}/events (issue 5); until it does, watch tests skip.
  static bool events_endpoint_exists() {
    auto job = submit(port(), {{"kind", "echo"}, {"params", json::object()}}, "?wait=5");
    const std::string id = job.json()["id"];
    RawConnection connection(port());
    connection.send("GET /v1/jobs/" + id +
                    "/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
    const std::string head = connection.read_all(2s);
    return head.starts_with("HTTP/1.1 200") && head.find("text/event-stream") != std::string::npos;
  }
  static JobdProcess* server_;
  static std::string config_;
};
JobdProcess* Jobctl::server_ = nullptr;
std::string Jobctl::config_;

// --- health, kinds ------------------------------------------------------------------------------

TEST_F(Jobctl, HealthSaysLiveAndReadyAndExitsZero) {
  auto human = run({"health"});
  EXPECT_EQ(human.code, 0) << human;
  EXPECT_NE(human.out.find("live   yes"), std::string::npos) << human;
  EXPECT_NE(human.out.find("ready  yes"), std::string::npos) << human;
  auto machine = run({"health", "--json"});
  ASSERT_EQ(machine.code, 0) << machine;
  EXPECT_EQ(machine.json_out(), json({{"live", true}, {"ready", true}, {"healthz", 200}, {"readyz", 200}}));
}

TEST_F(Jobctl, KindsPrintsTheCatalogAsATableOrTheServersJson) {
  auto human = run({"kinds"});
  ASSERT_EQ(human.code, 0) << human;
  EXPECT_TRUE(human.out.starts_with("NAME")) << human;
  EXPECT_NE(human.out.find("primes"), std::string::npos) << human;
  EXPECT_NE(human.out.find("thread,process"), std::string::npos) << human;
  auto machine = run({"kinds", "--json"});
  ASSERT_EQ(machine.code, 0) << machine;
  const json catalog = machine.json_out();
  ASSERT_TRUE(catalog["kinds"].is_array());
  bool has_echo = false;
  for (const auto& kind : catalog["kinds"]) has_echo = has_echo || kind["name"] == "echo";
  EXPECT_TRUE(has_echo);
}

// --- submit -------------------------------------------------------------------------------------

TEST_F(Jobctl, SubmitPrintsTheBareIdOfTheAcceptedJob) {
  auto submitted = run({"submit", "echo", "--param", "hello=world"});
  ASSERT_EQ(submitted.code, 0) << submitted;
  ASSERT_TRUE(one_line(submitted.out)) << submitted;
  const std::string id = submitted.out.substr(0, submitted.out.size() - 1);
  auto job = get(port(), "/v1/jobs/" + id + "?wait=5");
  ASSERT_EQ(job.status, 200) << job.body;
  EXPECT_EQ(job.json()["params"], json({{"hello", "world"}}));
}

TEST_F(Jobctl, SubmitWaitPrintsTheFinishedJob) {
  auto machine =
      run({"submit", "echo", "--param", "hello=world", "--param", "n=3", "--wait", "10s", "--json"});
  ASSERT_EQ(machine.code, 0) << machine;
  const json job = machine.json_out();
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_EQ(job["result"], json({{"hello", "world"}, {"n", 3}}));
  for (const char* field : {"id", "kind", "executor", "created_at", "finished_at"})
    EXPECT_TRUE(job.contains(field));

  auto human =
      run({"submit", "primes", "--params", R"({"n":10})", "--param", "n=1000", "-e", "thread", "--wait"});
  ASSERT_EQ(human.code, 0) << human;
  EXPECT_NE(human.out.find("state       succeeded"), std::string::npos) << human;
  EXPECT_NE(human.out.find(R"(result      {"count":168})"), std::string::npos) << human;
  EXPECT_NE(human.out.find("executor    thread"), std::string::npos) << human;
}

TEST_F(Jobctl, SubmitInputFromAFileBecomesTheInputParam) {
  const std::string path = std::filesystem::path(config_).parent_path() / "input.txt";
  std::ofstream(path) << "line one\nline two\n";
  auto text = run({"submit", "echo", "--input", "@" + path, "--wait", "--json"});
  ASSERT_EQ(text.code, 0) << text;
  EXPECT_EQ(text.json_out()["result"]["input"], "line one\nline two\n");
  std::ofstream(path, std::ios::binary | std::ios::trunc) << std::string("\xff\x00\x01", 3);
  auto bytes = run({"submit", "echo", "--input", "@" + path, "--wait", "--json"});
  ASSERT_EQ(bytes.code, 0) << bytes;
  EXPECT_EQ(bytes.json_out()["result"]["input_base64"], "/wAB");
}

TEST_F(Jobctl, AJobThatFailsExitsOneWithOneLineOnStderr) {
  auto failed = run({"submit", "fail", "--param", "message=boom", "--wait", "--json"});
  EXPECT_EQ(failed.code, 1) << failed;
  EXPECT_EQ(failed.json_out()["state"], "failed");
  EXPECT_TRUE(one_line(failed.err)) << failed;
  EXPECT_NE(failed.err.find("failed"), std::string::npos) << failed;
  EXPECT_NE(failed.err.find("boom"), std::string::npos) << failed;

  auto timed_out = run({"submit", "sleep", "--param", "ms=5000", "--timeout", "100ms", "--wait"});
  EXPECT_EQ(timed_out.code, 1) << timed_out;
  EXPECT_NE(timed_out.out.find("timed_out"), std::string::npos) << timed_out;
}

TEST_F(Jobctl, AWaitThatRunsOutExitsOne) {
  auto unfinished = run({"submit", "sleep", "--param", "ms=3000", "--wait", "200ms"});
  EXPECT_EQ(unfinished.code, 1) << unfinished;
  EXPECT_NE(unfinished.err.find("still"), std::string::npos) << unfinished;
}

TEST_F(Jobctl, ServerRefusalsExitThreeWithTheProblemType) {
  auto unknown = run({"submit", "no-such-kind"});
  EXPECT_EQ(unknown.code, 3) << unknown;
  EXPECT_TRUE(one_line(unknown.err)) << unknown;
  EXPECT_NE(unknown.err.find("HTTP 400 unknown-kind"), std::string::npos) << unknown;

  auto bad_params = run({"submit", "primes", "--param", "n=oops", "--json"});
  EXPECT_EQ(bad_params.code, 3) << bad_params;
  EXPECT_EQ(bad_params.json_out()["type"], "/problems/invalid-params");  // --json: the problem document

  auto missing = run({"get", "no-such-job"});
  EXPECT_EQ(missing.code, 3) << missing;
  EXPECT_NE(missing.err.find("404"), std::string::npos) << missing;
}

TEST_F(Jobctl, NetworkErrorsExitThree) {
  // A port nothing listens on: bind one, then close it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const auto closed_port = ntohs(address.sin_port);
  ::close(fd);
  for (std::vector<std::string> args : {std::vector<std::string>{"health"},
                                        {"kinds"},
                                        {"get", "x"},
                                        {"bench", "echo", "-n", "3", "-c", "1", "--quiet"}}) {
    auto result = jobctl(closed_port, args);
    EXPECT_EQ(result.code, 3) << args[0] << "\n" << result;
    EXPECT_NE(result.err.find("refused"), std::string::npos) << args[0] << "\n" << result;
  }
}

TEST_F(Jobctl, UsageErrorsExitTwo) {
  for (std::vector<std::string> args : {std::vector<std::string>{},
                                        {"frobnicate"},
                                        {"submit"},
                                        {"get"},
                                        {"submit", "echo", "--timeout", "soon"},
                                        {"submit", "echo", "--params", "[1]"},
                                        {"submit", "echo", "--param", "novalue"},
                                        {"bench", "echo", "-c", "0"},
                                        {"bench", "echo", "--wait", "90s"},
                                        {"--url", "https://x", "health"},
                                        {"--url", "localhost:8080", "health"}}) {
    auto result = run(args);
    EXPECT_EQ(result.code, 2) << (args.empty() ? "(none)" : args[0]) << "\n" << result;
    EXPECT_TRUE(one_line(result.err)) << result;
    EXPECT_TRUE(result.out.empty()) << result;
  }
  auto help = run({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("Exit codes"), std::string::npos) << help;
}

// --- get, wait, cancel --------------------------------------------------------------------------

TEST_F(Jobctl, GetShowsTheJobAndItsStateSetsTheExitCode) {
  auto done = submit(port(), {{"kind", "echo"}, {"params", {{"a", 1}}}}, "?wait=5");
  const std::string id = done.json()["id"];
  auto human = run({"get", id});
  ASSERT_EQ(human.code, 0) << human;
  EXPECT_NE(human.out.find("id          " + id), std::string::npos) << human;
  EXPECT_NE(human.out.find("state       succeeded"), std::string::npos) << human;
  auto machine = run({"get", id, "--json"});
  ASSERT_EQ(machine.code, 0) << machine;
  EXPECT_EQ(machine.json_out()["id"], id);

  auto failed = submit(port(), {{"kind", "fail"}, {"params", {{"message", "no"}}}}, "?wait=5");
  auto failed_get = run({"get", failed.json()["id"]});
  EXPECT_EQ(failed_get.code, 1) << failed_get;
}

TEST_F(Jobctl, WaitFollowsAJobToItsEnd) {
  auto started = submit(port(), {{"kind", "sleep"}, {"params", {{"ms", 300}}}});
  const std::string id = started.json()["id"];
  auto waited = run({"wait", id, "--json"});
  ASSERT_EQ(waited.code, 0) << waited;
  EXPECT_EQ(waited.json_out()["state"], "succeeded");

  auto slow = submit(port(), {{"kind", "sleep"}, {"params", {{"ms", 5000}}}});
  auto gave_up = run({"wait", slow.json()["id"], "--timeout", "200ms"});
  EXPECT_EQ(gave_up.code, 1) << gave_up;
  EXPECT_NE(gave_up.err.find("still running"), std::string::npos) << gave_up;
}

TEST_F(Jobctl, CancelStopsAJobAndASecondCancelIsRefused) {
  auto started = submit(port(), {{"kind", "sleep"}, {"params", {{"ms", 30000}}}});
  const std::string id = started.json()["id"];
  auto cancelled = run({"cancel", id, "--json"});
  ASSERT_EQ(cancelled.code, 0) << cancelled;
  EXPECT_EQ(cancelled.json_out()["id"], id);
  auto after = run({"wait", id, "--timeout", "5s", "--json"});
  EXPECT_EQ(after.code, 1) << after;  // cancelled: the job did not succeed
  EXPECT_EQ(after.json_out()["state"], "cancelled");
  auto again = run({"cancel", id});
  EXPECT_EQ(again.code, 3) << again;
  EXPECT_NE(again.err.find("409"), std::string::npos) << again;
}

// --- list ---------------------------------------------------------------------------------------

TEST_F(Jobctl, ListFiltersPagesAndFollowsCursors) {
  for (int i = 0; i < 3; ++i) submit(port(), {{"kind", "sha256"}, {"params", {{"data", "x"}}}}, "?wait=5");
  auto filtered = run({"list", "--kind", "sha256", "--state", "succeeded", "--json"});
  ASSERT_EQ(filtered.code, 0) << filtered;
  const json page = filtered.json_out();
  ASSERT_TRUE(page.contains("next_cursor"));
  ASSERT_GE(page["jobs"].size(), 3u);
  for (const auto& job : page["jobs"]) {
    EXPECT_EQ(job["kind"], "sha256");
    EXPECT_EQ(job["state"], "succeeded");
  }

  auto first = run({"list", "--kind", "sha256", "--limit", "1", "--json"});
  ASSERT_EQ(first.code, 0) << first;
  ASSERT_EQ(first.json_out()["jobs"].size(), 1u);
  EXPECT_FALSE(first.json_out()["jobs"][0].contains("params"));  // a summary; --full for the record
  EXPECT_TRUE(run({"list", "--kind", "sha256", "--limit", "1", "--full", "--json"})
                  .json_out()["jobs"][0]
                  .contains("result"));
  ASSERT_TRUE(first.json_out()["next_cursor"].is_string());
  auto every = run({"list", "--kind", "sha256", "--limit", "1", "--all", "--json"});
  ASSERT_EQ(every.code, 0) << every;
  EXPECT_EQ(every.json_out()["jobs"].size(), server_jobs(port(), "sha256").size());
  EXPECT_TRUE(every.json_out()["next_cursor"].is_null());

  auto human = run({"list", "--kind", "sha256", "--limit", "2"});
  ASSERT_EQ(human.code, 0) << human;
  EXPECT_TRUE(human.out.starts_with("ID")) << human;
  EXPECT_NE(human.out.find("--cursor"), std::string::npos) << human;

  auto bad_state = run({"list", "--state", "sleeping"});
  EXPECT_EQ(bad_state.code, 3) << bad_state;
}

// --- watch --------------------------------------------------------------------------------------

TEST_F(Jobctl, WatchPrintsOutputLinesInOrderThenTheFinalState) {
  if (!events_endpoint_exists()) GTEST_SKIP() << "GET /v1/jobs/{id}/events is not served yet (issue 5)";
  auto started = submit(port(), {{"kind", "seq"}, {"params", {{"n", 200}}}});
  ASSERT_EQ(started.status, 202) << started.body;
  auto watched = run({"watch", started.json()["id"]});
  ASSERT_EQ(watched.code, 0) << watched;
  std::vector<std::string> stdout_lines;
  std::vector<std::string> states;
  for (const auto& line : watched.out_lines()) {
    if (line.starts_with("stdout    ")) stdout_lines.push_back(line.substr(10));
    if (line.starts_with("state     ")) states.push_back(line.substr(10));
  }
  if (stdout_lines.empty() && !states.empty() && states.back().starts_with("succeeded")) {
    // The stream works but carries no output lines: the subprocess executor does not publish
    // them yet. Marked, not failed, so that this test starts checking once it does.
    GTEST_SKIP() << "jobd sends no stdout events yet (subprocess output -> SSE, issue 5)";
  }
  ASSERT_EQ(stdout_lines.size(), 200u) << watched;
  for (int i = 0; i < 200; ++i) EXPECT_EQ(stdout_lines[i], std::to_string(i + 1));
  ASSERT_FALSE(states.empty()) << watched;
  EXPECT_TRUE(states.back().starts_with("succeeded")) << watched;
  EXPECT_TRUE(watched.out_lines().back().starts_with("state     succeeded")) << watched;
}

TEST_F(Jobctl, WatchJsonGivesOneEventPerLineWithIncreasingIds) {
  if (!events_endpoint_exists()) GTEST_SKIP() << "GET /v1/jobs/{id}/events is not served yet (issue 5)";
  auto started = submit(port(), {{"kind", "ls-missing"}, {"params", json::object()}});
  auto watched = run({"watch", started.json()["id"], "--json"});
  EXPECT_EQ(watched.code, 1) << watched;  // ls exits 2: the job failed
  const auto events = watched.json_lines();
  ASSERT_GE(events.size(), 2u) << watched;
  bool saw_stderr = false;
  long long last_id = -1;
  for (const auto& event : events) {
    ASSERT_TRUE(event.contains("event") && event.contains("id") && event.contains("data")) << event;
    const long long id = std::stoll(event["id"].get<std::string>());
    EXPECT_GT(id, last_id) << watched;
    last_id = id;
    if (event["event"] == "stderr") {
      saw_stderr = true;
      EXPECT_NE(event["data"]["line"].get<std::string>().find("nonexistent-jobctl-test"), std::string::npos);
    }
  }
  EXPECT_EQ(events.back()["event"], "state");
  if (!saw_stderr && events.back()["data"].value("stderr", "").find("nonexistent") != std::string::npos) {
    GTEST_SKIP() << "jobd sends no stderr events yet (subprocess output -> SSE, issue 5)";
  }
  EXPECT_TRUE(saw_stderr) << watched;
  EXPECT_EQ(events.back()["data"]["state"], "failed");
}

TEST_F(Jobctl, WatchPrintsProgressBeforeTheEnd) {
  if (!events_endpoint_exists()) GTEST_SKIP() << "GET /v1/jobs/{id}/events is not served yet (issue 5)";
  // Large enough that the sieve reports progress for a while (about a second here).
  auto started =
      submit(port(), {{"kind", "primes"}, {"params", {{"n", 300'000'000}}}, {"executor", "thread"}});
  auto watched = run({"watch", started.json()["id"]});
  ASSERT_EQ(watched.code, 0) << watched;
  const auto lines = watched.out_lines();
  std::size_t progress = 0;
  for (const auto& line : lines) progress += line.starts_with("progress") ? 1 : 0;
  EXPECT_GT(progress, 0u) << watched;
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines.back().starts_with("state     succeeded")) << watched;
}

TEST_F(Jobctl, WatchOfAnUnknownJobExitsThree) {
  auto missing = run({"watch", "no-such-job"});
  EXPECT_EQ(missing.code, 3) << missing;
  EXPECT_TRUE(one_line(missing.err)) << missing;
}

// --- bench --------------------------------------------------------------------------------------

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

// --- token --------------------------------------------------------------------------------------

// A stand-in server on 127.0.0.1 that keeps the request heads it receives and answers each with
// what `respond` returns (by default 200 {"status":"ok"}): it lets the tests see what jobctl sends
// (jobd has no authentication yet) and feed it exact byte streams (a broken event stream).
class RecordingServer {
 public:
  struct Answer {
    std::string bytes;
    bool close = false;  // close the connection after sending
  };
  // Gets the request head and the number of the connection (0, 1, ...) it came on.
  using Responder = std::function<Answer(const std::string& head, int connection)>;

  explicit RecordingServer(Responder respond = ok) : respond_(std::move(respond)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd_, 8) != 0) {
      throw std::runtime_error("RecordingServer: bind/listen");
    }
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~RecordingServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  std::string heads() {
    std::lock_guard lock(mutex_);
    return heads_;
  }
  static Answer ok(const std::string&, int) {
    return {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}"};
  }

 private:
  void serve() {
    for (int connection = 0; !stop_;) {
      pollfd listening{fd_, POLLIN, 0};
      if (::poll(&listening, 1, 100) <= 0) continue;
      const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      std::string pending;
      char buffer[4096];
      bool open = true;
      while (open && !stop_) {
        pollfd readable{client, POLLIN, 0};
        if (::poll(&readable, 1, 2000) <= 0) break;
        const auto n = ::recv(client, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        pending.append(buffer, static_cast<std::size_t>(n));
        for (auto end = pending.find("\r\n\r\n"); open && end != std::string::npos;
             end = pending.find("\r\n\r\n")) {
          const std::string head = pending.substr(0, end + 4);
          pending.erase(0, end + 4);
          {
            std::lock_guard lock(mutex_);
            heads_ += head;
          }
          const Answer answer = respond_(head, connection);
          ::send(client, answer.bytes.data(), answer.bytes.size(), MSG_NOSIGNAL);
          open = !answer.close;
        }
      }
      ::close(client);
      ++connection;
    }
  }
  Responder respond_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::string heads_;
};

std::string sse_event(int id, const std::string& type, const json& data) {
  return "id: " + std::to_string(id) + "\nevent: " + type + "\ndata: " + data.dump() + "\n\n";
}

TEST(JobctlWatch, PrintsEventsInOrderAndResumesABrokenStreamWithoutRepeats) {
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

TEST(JobctlWatch, GivesUpWithExitThreeWhenTheStreamKeepsBreaking) {
  RecordingServer server([](const std::string&, int) -> RecordingServer::Answer {
    return {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", true};
  });
  auto watched = jobctl(server.port(), {"watch", "j"}, {}, 30s);
  EXPECT_EQ(watched.code, 3) << watched;
  EXPECT_TRUE(one_line(watched.err)) << watched;
}

TEST(JobctlToken, IsSentAsABearerTokenFromTheFlagOrTheEnvironment) {
  {
    RecordingServer server;
    auto result = jobctl(server.port(), {"health", "--token", "s3cret"});
    EXPECT_EQ(result.code, 0) << result;
    EXPECT_NE(server.heads().find("Authorization: Bearer s3cret\r\n"), std::string::npos) << server.heads();
  }
  {
    RecordingServer server;
    auto result = jobctl(server.port(), {"health"}, {"JOBD_TOKEN=from-env"});
    EXPECT_EQ(result.code, 0) << result;
    EXPECT_NE(server.heads().find("Authorization: Bearer from-env\r\n"), std::string::npos) << server.heads();
    EXPECT_NE(server.heads().find("GET /healthz HTTP/1.1"), std::string::npos);
    EXPECT_NE(server.heads().find("GET /readyz HTTP/1.1"), std::string::npos);
  }
  {
    RecordingServer server;
    auto result = jobctl(server.port(), {"health"});
    EXPECT_EQ(server.heads().find("Authorization"), std::string::npos) << server.heads();
  }
}

TEST(JobctlToken, OpensAServerThatRequiresOneAndIsRefusedWithout) {
  char pattern[] = "/tmp/jobctl-token-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string token_file = std::string(pattern) + "/tokens";
  const std::string token = "jobctl-test-token-0123456789";
  std::ofstream(token_file) << token << "\n";
  JobdProcess server({"--token-file", token_file});
  auto allowed =
      jobctl(server.port(), {"submit", "echo", "-p", "a=1", "--wait", "--json"}, {"JOBD_TOKEN=" + token});
  EXPECT_EQ(allowed.code, 0) << allowed;
  auto listed = jobctl(server.port(), {"--token", token, "list", "--json"});
  EXPECT_EQ(listed.code, 0) << listed;
  auto refused = jobctl(server.port(), {"list"});
  EXPECT_EQ(refused.code, 3) << refused;
  EXPECT_NE(refused.err.find("401"), std::string::npos) << refused;
  auto wrong = jobctl(server.port(), {"--token", "not-the-right-token-at-all", "kinds"});
  EXPECT_EQ(wrong.code, 3) << wrong;
  std::filesystem::remove_all(pattern);
}

TEST(JobctlUrl, TakesABasePathForAProxyInFront) {
  RecordingServer server;
  auto result =
      jobctl(0, {"--url", "http://127.0.0.1:" + std::to_string(server.port()) + "/jobd/", "health"});
  EXPECT_EQ(result.code, 0) << result;
  EXPECT_NE(server.heads().find("GET /jobd/healthz HTTP/1.1"), std::string::npos) << server.heads();
}

}  // namespace
