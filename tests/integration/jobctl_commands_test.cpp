// jobctl's request/response subcommands against a real jobd: health, kinds, submit, get, wait,
// cancel and list, their exit codes (0 succeeded, 1 job did not succeed, 2 usage, 3 server or
// network error) and their --json shapes. watch, bench and the token have files of their own.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <filesystem>
#include <fstream>

#include "harness.hpp"
#include "jobctl_process.hpp"

using namespace jobd::testing;
using nlohmann::json;

namespace {

class Jobctl : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new JobdProcess({"--test-kinds"}); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::uint16_t port() { return server_->port(); }
  static JobctlOutput run(std::vector<std::string> args, std::vector<std::string> env = {}) {
    return jobctl(port(), std::move(args), std::move(env));
  }
  static JobdProcess* server_;
};
JobdProcess* Jobctl::server_ = nullptr;

// --- health, kinds ------------------------------------------------------------------------------

TEST_F(Jobctl, HealthSaysLiveAndReadyAndExitsZero) {
  auto human = run({"health"});
  EXPECT_EQ(human.code, 0) << human;
  EXPECT_NE(human.out.find("live   yes"), std::string::npos) << human;
  EXPECT_NE(human.out.find("ready  yes"), std::string::npos) << human;
  EXPECT_NE(human.out.find("store  sqlite:"), std::string::npos) << human;
  EXPECT_NE(human.out.find("(durability process): ok"), std::string::npos) << human;
  auto machine = run({"health", "--json"});
  ASSERT_EQ(machine.code, 0) << machine;
  auto out = machine.json_out();
  ASSERT_TRUE(out.contains("store")) << out.dump();
  EXPECT_TRUE(out["store"]["uri"].get<std::string>().starts_with("sqlite:")) << out.dump();
  out["store"]["uri"] = "sqlite:x";
  EXPECT_EQ(out, json({{"live", true},
                       {"ready", true},
                       {"healthz", 200},
                       {"readyz", 200},
                       {"store", {{"uri", "sqlite:x"}, {"durability", "process"}, {"ok", true}}}}));
}

// backup: its own jobd, with a backup directory; the suite's server has none (exit 3, the type named).
TEST_F(Jobctl, BackupPrintsTheCopysPathAndARefusalExitsThree) {
  const auto refused = run({"backup"});
  EXPECT_EQ(refused.code, 3) << refused;
  EXPECT_NE(refused.err.find("backup-unavailable"), std::string::npos) << refused;

  const auto dir = std::filesystem::temp_directory_path() / ("jobctl-backup-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "copies");
  {
    JobdProcess server(
        {"--store", "sqlite:" + (dir / "jobd.db").string(), "--backup-dir", (dir / "copies").string()});
    const auto human = jobctl(server.port(), {"backup"});
    ASSERT_EQ(human.code, 0) << human;
    const auto path = human.out.substr(0, human.out.find(" ("));
    EXPECT_EQ(std::filesystem::path(path).parent_path(), dir / "copies") << human;
    EXPECT_TRUE(std::filesystem::is_regular_file(path)) << human;
    EXPECT_NE(human.out.find(" MiB in "), std::string::npos) << human;
    const auto machine = jobctl(server.port(), {"backup", "--json"});
    ASSERT_EQ(machine.code, 0) << machine;
    const auto answer = machine.json_out();
    EXPECT_EQ(answer["bytes"].get<std::uintmax_t>(),
              std::filesystem::file_size(answer["path"].get<std::string>()));
    EXPECT_NE(answer["path"], path) << "each backup is a new copy";
  }
  std::filesystem::remove_all(dir);
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
  char directory[] = "/tmp/jobctl-input-XXXXXX";
  ASSERT_NE(::mkdtemp(directory), nullptr);
  const std::string path = std::string(directory) + "/input.txt";
  std::ofstream(path) << "line one\nline two\n";
  auto text = run({"submit", "echo", "--input", "@" + path, "--wait", "--json"});
  ASSERT_EQ(text.code, 0) << text;
  EXPECT_EQ(text.json_out()["result"]["input"], "line one\nline two\n");
  std::ofstream(path, std::ios::binary | std::ios::trunc) << std::string("\xff\x00\x01", 3);
  auto bytes = run({"submit", "echo", "--input", "@" + path, "--wait", "--json"});
  ASSERT_EQ(bytes.code, 0) << bytes;
  EXPECT_EQ(bytes.json_out()["result"]["input_base64"], "/wAB");
  std::filesystem::remove_all(directory);
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
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
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

}  // namespace
