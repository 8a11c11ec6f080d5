// The subprocess executor against a real jobd with a command config written by the test: a
// job's stdin, argv and exit, signals, spawn failures, argument injection, the scrubbed
// environment, the fresh working directory, resource limits, and a bad config. Output capture
// is subprocess_output_test's; stopping and cleaning up, subprocess_stop_test's.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "subprocess_fixture.hpp"

using namespace jobd::testing;
using namespace jobd::testing::subprocess;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

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

TEST(Subprocess, AProgramThatGoesMissingOrLosesItsModeAfterStartFailsClearly) {
  // jobd refuses such programs at start; one removed or made non-executable later fails its
  // jobs at once with the reason, never hangs.
  Workspace ws;
  const std::string gone = ws.script("gone.sh", "exit 0");
  const std::string locked = ws.script("locked.sh", "exit 0");
  JobdProcess server({"--config", ws.write_config(json::array({{{"name", "gone"}, {"program", gone}},
                                                               {{"name", "locked"}, {"program", locked}}}))});
  fs::remove(gone);
  ::chmod(locked.c_str(), 0644);
  const auto start = Clock::now();
  auto missing = run(server.port(), "gone");
  EXPECT_EQ(missing["state"], "failed");
  EXPECT_EQ(missing["error"]["type"], "spawn-failed");
  EXPECT_NE(missing["error"]["message"].get<std::string>().find("No such file or directory"),
            std::string::npos)
      << missing.dump();
  auto denied = run(server.port(), "locked");
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
    std::string expected = "[--name=" + attack;
    expected += "]\n[";
    expected += attack;
    expected += "]\n";
    EXPECT_EQ(job["stdout"], expected) << attack;
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

TEST(Subprocess, ProgramsWorkdirsAndLimitsThatCannotRunAreRefusedAtStartWithExitCodeTwo) {
  Workspace ws;
  const std::string plain = ws.path("plain.txt");
  std::ofstream(plain) << "not a program\n";
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"name", "dir"}, {"program", "/usr/bin"}}, "commands[0] (dir): program: /usr/bin is a directory"},
      {{{"name", "text"}, {"program", plain}},
       "commands[0] (text): program: " + plain + " is not executable"},
      {{{"name", "none"}, {"program", ws.path("none")}}, "commands[0] (none): program: " + ws.path("none")},
      {{{"name", "wd"}, {"program", "/bin/true"}, {"workdir", "/nonexistent-jobd-workdir"}},
       "commands[0] (wd): workdir: /nonexistent-jobd-workdir does not exist"},
      {{{"name", "wdfile"}, {"program", "/bin/true"}, {"workdir", plain}},
       "commands[0] (wdfile): workdir: " + plain + " is not a directory"},
      {{{"name", "tiny"}, {"program", "/bin/true"}, {"limits", {{"address_space_bytes", 1}}}},
       "commands[0] (tiny): limits.address_space_bytes: must be at least"},
  };
  for (const auto& [entry, expected] : cases) {
    const std::string command = "timeout 10 " + std::string(JOBD_BINARY) +
                                " --listen 127.0.0.1:0 --workers 0 --store memory: --config " +
                                ws.write_config(json::array({entry})) + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    std::array<char, 4096> chunk{};
    while (std::fgets(chunk.data(), chunk.size(), pipe) != nullptr) output += chunk.data();
    const int status = ::pclose(pipe);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << entry.dump() << ": " << output;
    EXPECT_NE(output.find(expected), std::string::npos) << entry.dump() << ": " << output;
  }
}
