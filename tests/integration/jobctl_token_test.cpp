// How jobctl reaches a server: the bearer token (flag or environment) against a stand-in that
// records what it receives and against a jobd that requires one, and a base path for a proxy.
#include <unistd.h>

#include <gtest/gtest.h>
#include <filesystem>
#include <fstream>

#include "harness.hpp"
#include "jobctl_process.hpp"
#include "recording_server.hpp"

using namespace jobd::testing;

namespace {

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
    // Without a token: the requests arrive (so the check below has something to look at),
    // with no Authorization header.
    RecordingServer server;
    auto result = jobctl(server.port(), {"health"});
    EXPECT_EQ(result.code, 0) << result;
    EXPECT_NE(server.heads().find("GET /healthz HTTP/1.1"), std::string::npos) << server.heads();
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
