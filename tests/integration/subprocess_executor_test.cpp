// The subprocess executor against a real jobd with a command config written by the test:
// stdin and output capture, exit statuses and signals, spawn failures, argument injection,
// output caps, the SIGTERM -> SIGKILL sequence on cancel and deadline, process-group cleanup,
// environment scrubbing, concurrency and the queue limit, and that no child is left behind.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

// A temporary directory with the test's scripts, marker files and command config.
class Workspace {
 public:
  Workspace() {
    char pattern[] = "/tmp/jobd-subprocess-test-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
  }
  ~Workspace() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  // Writes an executable /bin/sh script; returns its path.
  std::string script(const std::string& name, const std::string& body, mode_t mode = 0755) const {
    const std::string file = path(name);
    std::ofstream(file) << "#!/bin/sh\n" << body << "\n";
    ::chmod(file.c_str(), mode);
    return file;
  }
  std::string write_config(const json& commands) const {
    const std::string file = path("commands.json");
    std::ofstream(file) << json{{"commands", commands}}.dump(2);
    return file;
  }

 private:
  std::string dir_;
};

// The test's command kinds; scripts live in the workspace.
json test_commands(const Workspace& ws) {
  const json caps = {{"max_stdout_bytes", 65536}, {"max_stderr_bytes", 4096}};
  auto command = [&](const std::string& name, const std::string& program, json extra = json::object()) {
    json entry = {{"name", name}, {"program", program}};
    entry.update(caps);
    entry.update(extra);
    return entry;
  };
  return json::array({
      command("wc", "/usr/bin/wc",
              {{"stdin", true},
               {"params",
                {{{"name", "bytes"}, {"type", "boolean"}, {"arg", {{"flag", "-c"}}}},
                 {{"name", "lines"}, {"type", "boolean"}, {"arg", {{"flag", "-l"}}}}}}}),
      command("args", ws.script("args.sh", R"(for a in "$@"; do printf '[%s]\n' "$a"; done)"),
              {{"params",
                {{{"name", "text"}, {"type", "string"}, {"arg", {{"positional", true}}}},
                 {{"name", "name"}, {"type", "string"}, {"arg", {{"option", "--name"}}}}}}}),
      command("fail", ws.script("fail.sh", "echo partial; echo oops >&2; exit 3")),
      command("crash", ws.script("crash.sh", "kill -SEGV $$")),
      command("missing", ws.path("does-not-exist")),
      command("notexec", ws.script("notexec.sh", "exit 0", 0644)),
      command("flood", ws.script("flood.sh", "yes 0123456789abcdef | head -c 52428800; echo done >&2")),
      command("stubborn", ws.script("stubborn.sh", "trap '' TERM\necho ready\ntouch " +
                                                       ws.path("stubborn.ready") + "\nexec sleep 60")),
      command("forker",
              ws.script("forker.sh", "sleep 60 &\necho $! > " + ws.path("grandchild.pid") + "\nwait")),
      command("leaver",
              ws.script("leaver.sh", "sleep 60 &\necho $! > " + ws.path("leftover.pid") + "\necho bye")),
      command("slow", ws.script("slow.sh", "echo started\nexec sleep 60")),
      command("env", "/usr/bin/env", {{"env", {{"FOO", "bar"}}}, {"pass_env", {"JOBD_TEST_PASSED"}}}),
      command("binary", ws.script("binary.sh", R"(printf '\377\376')")),
      command("where", ws.script("where.sh", "pwd\ntouch created")),
      command("true", "/bin/true"),
      command("sleeper", "/usr/bin/sleep",
              {{"params",
                {{{"name", "seconds"},
                  {"type", "integer"},
                  {"required", true},
                  {"minimum", 0},
                  {"arg", {{"positional", true}}}}}}}),
      command("limited", ws.script("limited.sh", "ulimit -n; ulimit -c"), {{"limits", {{"open_files", 42}}}}),
      command("runlimit", ws.script("runlimit.sh", "echo started\nexec sleep 60"), {{"timeout_ms", 300}}),
      command("talker", ws.script("talker.sh", "while [ ! -e " + ws.path("talk") +
                                                   " ]; do sleep 0.01; done\n"
                                                   "echo one\nprintf 'two\\n' >&2\nprintf 'bin\\377ary\\n'\n"
                                                   "printf 'no newline'")),
  });
}

struct Fixture {
  Workspace ws;
  JobdProcess server;
  explicit Fixture(std::vector<std::string> args = {}, std::vector<std::string> env = {})
      : server(with_config(ws, std::move(args)), std::move(env)) {}
  static std::vector<std::string> with_config(const Workspace& ws, std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", ws.write_config(test_commands(ws))});
    return args;
  }
  std::uint16_t port() const { return server.port(); }
};

json run(std::uint16_t port, const std::string& kind, json params = json::object(),
         json extra = json::object()) {
  json body = {{"kind", kind}, {"params", std::move(params)}};
  body.update(extra);
  auto response = submit(port, body, "?wait=30");
  EXPECT_EQ(response.status, 200) << response.body;
  return response.status == 200 ? response.json() : json::object();
}

std::string submit_id(std::uint16_t port, const std::string& kind, json params = json::object(),
                      json extra = json::object()) {
  json body = {{"kind", kind}, {"params", std::move(params)}};
  body.update(extra);
  auto response = submit(port, body);
  EXPECT_EQ(response.status, 202) << response.body;
  return response.status == 202 ? response.json()["id"].get<std::string>() : "";
}

json wait_final(std::uint16_t port, const std::string& id) {
  auto response = get(port, "/v1/jobs/" + id + "?wait=30");
  EXPECT_EQ(response.status, 200) << response.body;
  return response.status == 200 ? response.json() : json::object();
}

bool alive(pid_t pid) {
  // Gone, or a zombie waiting for whoever reaps orphans: either way it runs no more.
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return close != std::string::npos && stat.size() > close + 2 && stat[close + 2] != 'Z';
}

// jobd's children that are not jobd itself (its process workers are), plus any zombie.
std::vector<pid_t> stray_children(pid_t jobd) {
  char own[4096] = {};
  const auto own_length = ::readlink(("/proc/" + std::to_string(jobd) + "/exe").c_str(), own, sizeof own - 1);
  std::vector<pid_t> stray;
  for (pid_t pid : descendants(jobd)) {
    char exe[4096] = {};
    const auto length = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), exe, sizeof exe - 1);
    const bool is_jobd = length > 0 && length == own_length && std::string_view(exe) == std::string_view(own);
    if (!is_jobd || !alive(pid)) stray.push_back(pid);
  }
  return stray;
}

pid_t read_pid(const std::string& file) {
  pid_t pid = 0;
  eventually([&] {
    std::ifstream in(file);
    return static_cast<bool>(in >> pid) && pid > 0;
  });
  return pid;
}

}  // namespace

TEST(Subprocess, CommandKindsAppearInTheCatalog) {
  Fixture f;
  auto kinds = get(f.port(), "/v1/kinds").json()["kinds"];
  json wc;
  for (const auto& kind : kinds) {
    if (kind["name"] == "wc") wc = kind;
  }
  ASSERT_FALSE(wc.is_null());
  EXPECT_EQ(wc["executors"], json::array({"subprocess"}));
  EXPECT_TRUE(wc["params"]["properties"].contains("input"));
  EXPECT_TRUE(wc["params"]["properties"].contains("bytes"));
}

TEST(Subprocess, WcCountsTheBytesOfItsStdin) {
  Fixture f;
  auto job = run(f.port(), "wc", {{"bytes", true}, {"input", "hello, world\n"}});
  EXPECT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["executor"], "subprocess");
  EXPECT_EQ(job["stdout"], "13\n");
  EXPECT_EQ(job["stderr"], "");
  EXPECT_EQ(job["exit_code"], 0);
  EXPECT_EQ(job["truncated"], json({{"stdout", false}, {"stderr", false}}));
  EXPECT_TRUE(job["duration_ms"].is_number_integer());
  EXPECT_TRUE(job["pid"].is_number_integer());
  // Bytes (not text) travel as base64.
  auto lines = run(f.port(), "wc", {{"lines", true}, {"input_base64", "YQpiCgA="}});
  EXPECT_EQ(lines["stdout"], "2\n");
}

TEST(Subprocess, NonzeroExitFailsWithTheCodeAndKeepsTheOutput) {
  Fixture f;
  auto job = run(f.port(), "fail");
  EXPECT_EQ(job["state"], "failed");
  EXPECT_EQ(job["error"]["type"], "exit-status");
  EXPECT_NE(job["error"]["message"].get<std::string>().find("3"), std::string::npos);
  EXPECT_EQ(job["exit_code"], 3);
  EXPECT_EQ(job["stdout"], "partial\n");
  EXPECT_EQ(job["stderr"], "oops\n");
}

TEST(Subprocess, AChildKilledByASignalFailsNamingTheSignal) {
  Fixture f;
  auto job = run(f.port(), "crash");
  EXPECT_EQ(job["state"], "failed");
  EXPECT_EQ(job["error"]["type"], "exit-status");
  EXPECT_EQ(job["signal"], "SIGSEGV");
  EXPECT_FALSE(job.contains("exit_code"));
  EXPECT_NE(job["error"]["message"].get<std::string>().find("SIGSEGV"), std::string::npos);
}

TEST(Subprocess, AMissingOrNonExecutableProgramFailsClearly) {
  Fixture f;
  const auto start = Clock::now();
  auto missing = run(f.port(), "missing");
  EXPECT_EQ(missing["state"], "failed");
  EXPECT_EQ(missing["error"]["type"], "spawn-failed");
  EXPECT_NE(missing["error"]["message"].get<std::string>().find("No such file or directory"),
            std::string::npos)
      << missing.dump();
  auto denied = run(f.port(), "notexec");
  EXPECT_EQ(denied["error"]["type"], "spawn-failed");
  EXPECT_NE(denied["error"]["message"].get<std::string>().find("Permission denied"), std::string::npos)
      << denied.dump();
  EXPECT_LT(Clock::now() - start, 2s);  // never a hang
}

TEST(Subprocess, InjectionAttemptsReachTheProgramAsOneLiteralArgumentOrAreRefused) {
  Fixture f;
  const std::string marker = f.ws.path("pwned");
  const std::vector<std::string> attacks = {"; touch " + marker, "$(touch " + marker + ")",
                                            "`touch " + marker + "`", "a && touch " + marker + " #",
                                            "x\ntouch " + marker};
  for (const auto& attack : attacks) {
    auto job = run(f.port(), "args", {{"text", attack}, {"name", attack}});
    EXPECT_EQ(job["state"], "succeeded") << job.dump();
    EXPECT_EQ(job["stdout"], "[--name=" + attack + "]\n[" + attack + "]\n") << attack;
  }
  // A positional value that starts with '-' could read as an option: refused.
  for (const std::string value : {"-rf", "--output=/etc/passwd", "-"}) {
    auto refused = submit(f.port(), {{"kind", "args"}, {"params", {{"text", value}}}});
    EXPECT_EQ(refused.status, 400) << value;
    EXPECT_EQ(refused.json()["pointer"], "/params/text");
  }
  // An option the operator did not declare cannot be added.
  auto undeclared = submit(f.port(), {{"kind", "args"}, {"params", {{"output", "/etc/passwd"}}}});
  EXPECT_EQ(undeclared.status, 400);
  EXPECT_EQ(undeclared.json()["pointer"], "/params/output");
  // A declared option's value is glued to it: "-rf" stays its value.
  auto glued = run(f.port(), "args", {{"name", "-rf"}});
  EXPECT_EQ(glued["stdout"], "[--name=-rf]\n");
  EXPECT_FALSE(fs::exists(marker)) << "an injected command ran";
}

TEST(Subprocess, FiftyMegabytesOfOutputAreCappedWithoutDeadlock) {
  Fixture f;
  const auto start = Clock::now();
  auto job = run(f.port(), "flood");
  EXPECT_EQ(job["state"], "succeeded") << job.dump().substr(0, 500);
  EXPECT_EQ(job["stdout"].get<std::string>().size(), 65536u);
  EXPECT_EQ(job["stdout"].get<std::string>().substr(0, 17), "0123456789abcdef\n");
  EXPECT_EQ(job["truncated"]["stdout"], true);
  EXPECT_EQ(job["truncated"]["stderr"], false);
  EXPECT_EQ(job["stderr"], "done\n");  // written after the 50 MB: the child never blocked
  EXPECT_LT(Clock::now() - start, 20s);
}

TEST(Subprocess, AChildIgnoringSigtermIsKilledAfterTheGrace) {
  Fixture f({"--kill-grace", "500ms"});
  const auto id = submit_id(f.port(), "stubborn");
  ASSERT_TRUE(eventually([&] { return fs::exists(f.ws.path("stubborn.ready")); }));
  const auto start = Clock::now();
  auto cancel = http_request(f.port(), "DELETE", "/v1/jobs/" + id);
  EXPECT_EQ(cancel.status, 202);  // accepted: the job ends when its process group is gone
  EXPECT_EQ(cancel.json()["state"], "running");
  auto job = wait_final(f.port(), id);
  const auto took = Clock::now() - start;
  EXPECT_EQ(job["state"], "cancelled");
  EXPECT_EQ(job["signal"], "SIGKILL");  // SIGTERM was ignored
  EXPECT_EQ(job["stdout"], "ready\n");  // output captured before the kill is kept
  EXPECT_GE(took, 450ms);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(eventually([&] { return stray_children(f.server.pid()).empty(); }));
}

TEST(Subprocess, AGrandchildDiesWithACancelledJob) {
  Fixture f;
  const auto id = submit_id(f.port(), "forker");
  const pid_t grandchild = read_pid(f.ws.path("grandchild.pid"));
  ASSERT_GT(grandchild, 0);
  ASSERT_TRUE(alive(grandchild));
  EXPECT_EQ(http_request(f.port(), "DELETE", "/v1/jobs/" + id).status, 202);
  auto job = wait_final(f.port(), id);
  EXPECT_EQ(job["state"], "cancelled");
  EXPECT_EQ(job["signal"], "SIGTERM");
  EXPECT_TRUE(eventually([&] { return !alive(grandchild); }, 3s))
      << "grandchild " << grandchild << " survived";
  EXPECT_TRUE(eventually([&] { return stray_children(f.server.pid()).empty(); }));
}

TEST(Subprocess, ProcessesLeftBehindDieWhenTheJobEnds) {
  Fixture f;
  const auto start = Clock::now();
  auto job = run(f.port(), "leaver");
  // The background `sleep 60` holds stdout open; the job still ends at once, and so does it.
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_EQ(job["stdout"], "bye\n");
  EXPECT_LT(Clock::now() - start, 2s);
  const pid_t leftover = read_pid(f.ws.path("leftover.pid"));
  EXPECT_TRUE(eventually([&] { return !alive(leftover); }, 3s));
}

TEST(Subprocess, TheDeadlineStopsTheGroupAndKeepsTheOutput) {
  Fixture f;
  auto job = run(f.port(), "slow", json::object(), {{"timeout_ms", 300}});
  EXPECT_EQ(job["state"], "timed_out");
  EXPECT_EQ(job["error"]["type"], "timed-out");
  EXPECT_EQ(job["stdout"], "started\n");
  EXPECT_EQ(job["signal"], "SIGTERM");
  // The command's own run-time limit (timeout_ms in the config) too.
  auto limited = run(f.port(), "runlimit");
  EXPECT_EQ(limited["state"], "timed_out");
  EXPECT_NE(limited["error"]["message"].get<std::string>().find("timeout_ms"), std::string::npos);
  EXPECT_EQ(limited["stdout"], "started\n");
}

TEST(Subprocess, TheEnvironmentIsScrubbed) {
  Fixture f({}, {"JOBD_TEST_SECRET=hunter2", "JOBD_TEST_PASSED=yes"});
  auto job = run(f.port(), "env");
  ASSERT_EQ(job["state"], "succeeded");
  const auto env = job["stdout"].get<std::string>();
  EXPECT_EQ(env.find("hunter2"), std::string::npos) << env;
  EXPECT_EQ(env.find("JOBD_TEST_SECRET"), std::string::npos) << env;
  EXPECT_NE(env.find("FOO=bar\n"), std::string::npos) << env;
  EXPECT_NE(env.find("JOBD_TEST_PASSED=yes\n"), std::string::npos) << env;
  EXPECT_NE(env.find("PATH="), std::string::npos) << env;
}

TEST(Subprocess, EachJobRunsInAFreshDirectoryThatIsRemovedAfter) {
  Fixture f;
  auto first = run(f.port(), "where");
  auto second = run(f.port(), "where");
  const auto dir = first["stdout"].get<std::string>();
  ASSERT_GT(dir.size(), 1u);
  EXPECT_NE(dir, second["stdout"].get<std::string>());
  const std::string path = dir.substr(0, dir.size() - 1);
  EXPECT_TRUE(eventually([&] { return !fs::exists(path); })) << path;
}

TEST(Subprocess, ResourceLimitsApplyToTheChild) {
  Fixture f;
  auto job = run(f.port(), "limited");
  EXPECT_EQ(job["stdout"], "42\n0\n");  // open files from the config; no core dumps by default
}

TEST(Subprocess, OutputLinesArePublishedAsEventsWhileWatched) {
  Fixture f;
  const auto id = submit_id(f.port(), "talker");
  RawConnection watcher(f.port());
  ASSERT_TRUE(watcher.send("GET /v1/jobs/" + id +
                           "/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"));
  // The first bytes mean the stream is subscribed; only then may the script talk.
  const std::string first = watcher.read_some(5s);
  ASSERT_FALSE(first.empty());
  std::ofstream(f.ws.path("talk")) << "go";
  const std::string raw = first + watcher.read_all(15s);
  std::vector<std::string> out, err;
  std::istringstream lines(raw);
  std::string line, type;
  while (std::getline(lines, line)) {
    if (line.starts_with("event: ")) type = line.substr(7);
    if (!line.starts_with("data: ")) continue;
    const json data = json::parse(line.substr(6));
    if (type == "stdout") out.push_back(data["line"]);
    if (type == "stderr") err.push_back(data["line"]);
  }
  EXPECT_EQ(out, (std::vector<std::string>{"one",
                                           "bin\xEF\xBF\xBD"
                                           "ary",
                                           "no newline"}))
      << raw;
  EXPECT_EQ(err, std::vector<std::string>{"two"});
}

TEST(Subprocess, BinaryOutputIsReturnedAsBase64) {
  Fixture f;
  auto job = run(f.port(), "binary");
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_FALSE(job.contains("stdout"));
  EXPECT_EQ(job["stdout_base64"], "//4=");
}

TEST(Subprocess, TwoHundredConcurrentShortJobsAllSucceedAndLeaveNoZombies) {
  Fixture f;
  std::vector<std::future<json>> jobs;
  for (int i = 0; i < 200; ++i) {
    jobs.push_back(std::async(std::launch::async, [&f, i] {
      return run(f.port(), "wc", {{"bytes", true}, {"input", std::string(static_cast<std::size_t>(i), 'x')}});
    }));
  }
  int succeeded = 0;
  for (int i = 0; i < 200; ++i) {
    const json job = jobs[static_cast<std::size_t>(i)].get();
    std::string expected = std::to_string(i);
    expected.push_back('\n');
    if (job.value("state", "") == "succeeded" && job.value("stdout", "") == expected) {
      ++succeeded;
    } else {
      ADD_FAILURE() << "job " << i << ": " << job.dump();
    }
  }
  EXPECT_EQ(succeeded, 200);
  EXPECT_TRUE(eventually([&] { return stray_children(f.server.pid()).empty(); }))
      << stray_children(f.server.pid()).size() << " stray children";
  EXPECT_EQ(f.server.stop(), 0);
}

TEST(Subprocess, BeyondMaxSubprocessesJobsQueueAndAFullQueueAnswers429) {
  Fixture f({"--max-subprocesses", "1", "--queue-depth", "1"});
  const auto running = submit_id(f.port(), "sleeper", {{"seconds", 60}});
  const auto queued = submit_id(f.port(), "sleeper", {{"seconds", 60}});
  EXPECT_TRUE(eventually([&] { return get(f.port(), "/v1/jobs/" + running).json()["state"] == "running"; }));
  EXPECT_EQ(get(f.port(), "/v1/jobs/" + queued).json()["state"], "queued");
  auto refused = submit(f.port(), {{"kind", "sleeper"}, {"params", {{"seconds", 1}}}});
  EXPECT_EQ(refused.status, 429);
  EXPECT_FALSE(refused.header("retry-after").empty());
  // A queued job is cancelled at once and never runs; then the running one.
  auto cancelled = http_request(f.port(), "DELETE", "/v1/jobs/" + queued);
  EXPECT_EQ(cancelled.status, 200);
  EXPECT_EQ(cancelled.json()["state"], "cancelled");
  EXPECT_FALSE(cancelled.json().contains("pid"));
  EXPECT_EQ(http_request(f.port(), "DELETE", "/v1/jobs/" + running).status, 202);
  EXPECT_EQ(wait_final(f.port(), running)["state"], "cancelled");
  // The slot is free again.
  EXPECT_EQ(run(f.port(), "sleeper", {{"seconds", 0}})["state"], "succeeded");
}

TEST(Subprocess, ShutdownStopsRunningChildren) {
  Fixture f({"--drain-timeout", "200ms", "--kill-grace", "200ms"});
  const auto id = submit_id(f.port(), "forker");
  const pid_t grandchild = read_pid(f.ws.path("grandchild.pid"));
  ASSERT_GT(grandchild, 0);
  EXPECT_EQ(f.server.stop(SIGTERM, 10s), 0);
  EXPECT_TRUE(eventually([&] { return !alive(grandchild); }, 3s));
}

TEST(Subprocess, ChildrenDieWhenJobdIsKilled) {
  Fixture f;
  const auto id = submit_id(f.port(), "sleeper", {{"seconds", 60}});
  pid_t child = 0;
  ASSERT_TRUE(eventually([&] {
    const json job = get(f.port(), "/v1/jobs/" + id).json();
    child = job.value("pid", 0);
    return child > 0;
  }));
  EXPECT_EQ(f.server.stop(SIGKILL, 5s), 128 + SIGKILL);
  EXPECT_TRUE(eventually([&] { return !alive(child); }, 3s)) << "child " << child << " outlived jobd";
}

TEST(Subprocess, ABadConfigStopsJobdNamingTheEntryAndTheField) {
  Workspace ws;
  const std::string config = ws.write_config(json::array(
      {{{"name", "ok"}, {"program", "/bin/true"}}, {{"name", "broken"}, {"program", "relative/path"}}}));
  try {
    JobdProcess server({"--config", config});
    ADD_FAILURE() << "jobd started with a bad config";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("commands[1] (broken): program: must be an absolute path"),
              std::string::npos)
        << e.what();
  }
}
