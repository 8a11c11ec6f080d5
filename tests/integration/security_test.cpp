// Authentication and hostile input against a real jobd.
#include <gtest/gtest.h>

#include <dirent.h>
#include <poll.h>
#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {
const std::string kToken = "s3cret-token-for-tests-0123456789";

std::string write_token_file() {
  std::string path = "/tmp/jobd-test-tokens-" + std::to_string(::getpid());
  std::ofstream(path) << "# test tokens\n" << kToken << "\nanother-token-0123456789abcdef\n";
  return path;
}

int open_fds(pid_t pid) {
  int count = 0;
  if (DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (::readdir(dir) != nullptr) ++count;
    ::closedir(dir);
  }
  return count - 2;
}
// Sum of the samples of `family` whose labels contain `label` (every sample when empty).
long sum_metric(const std::string& text, const std::string& family, const std::string& label) {
  long sum = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with(family + "{") || line.find(label) == std::string::npos) continue;
    sum += std::stol(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// id -> state of every job GET /v1/jobs lists, across pages.
std::map<std::string, std::string> listed_states(std::uint16_t port) {
  std::map<std::string, std::string> states;
  std::string cursor;
  do {
    const auto page = get(port, "/v1/jobs?limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor));
    if (page.status != 200) throw std::runtime_error("GET /v1/jobs: " + page.body);
    const json body = page.json();
    for (const auto& job : body.at("jobs")) states[job.at("id").get<std::string>()] = job.at("state");
    cursor = body.at("next_cursor").is_string() ? body.at("next_cursor").get<std::string>() : "";
  } while (!cursor.empty());
  return states;
}

// How the server's listing differs from what the clients read (id -> state), in a few lines;
// empty when they agree.
std::string listing_difference(const std::map<std::string, std::string>& listed,
                               const std::map<std::string, std::string>& seen) {
  constexpr std::size_t kShown = 5;
  std::ostringstream text;
  std::size_t count = 0;
  for (const auto& [id, state] : seen) {
    const auto it = listed.find(id);
    if (it == listed.end()) {
      if (++count <= kShown) text << id << " is not listed (its client read " << state << ")\n";
    } else if (it->second != state) {
      if (++count <= kShown)
        text << id << " is listed " << it->second << ", its client read " << state << "\n";
    }
  }
  for (const auto& [id, state] : listed) {
    if (!seen.contains(id) && ++count <= kShown) {
      text << id << " is listed (" << state << ") but no client submitted it\n";
    }
  }
  if (count > kShown) text << "... " << count << " differences in all\n";
  return text.str();
}
}  // namespace

TEST(Auth, V1RoutesNeedABearerTokenAndProbesStayOpen) {
  const auto tokens = write_token_file();
  JobdProcess server({"--token-file", tokens, "--access-log"});
  const Headers json_type = {{"Content-Type", "application/json"}};
  auto anonymous = http_request(server.port(), "POST", "/v1/jobs?wait=5", R"({"kind":"echo"})", json_type);
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.json()["type"], "/problems/unauthorized");
  EXPECT_EQ(anonymous.header("www-authenticate"), R"(Bearer realm="jobd")");
  auto wrong =
      http_request(server.port(), "GET", "/v1/kinds", "", {{"Authorization", "Bearer not-the-token-at-all"}});
  EXPECT_EQ(wrong.status, 401);
  Headers with_token = json_type;
  with_token.emplace_back("Authorization", "Bearer " + kToken);
  auto allowed = http_request(server.port(), "POST", "/v1/jobs?wait=5", R"({"kind":"echo"})", with_token);
  EXPECT_EQ(allowed.status, 200);
  auto second = http_request(server.port(), "GET", "/v1/jobs", "",
                             {{"Authorization", "Bearer another-token-0123456789abcdef"}});
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(get(server.port(), "/v1/jobs/" + allowed.json()["id"].get<std::string>() + "/events").status,
            401);
  EXPECT_EQ(get(server.port(), "/healthz").status, 200);
  EXPECT_EQ(get(server.port(), "/readyz").status, 200);
  EXPECT_EQ(get(server.port(), "/metrics").status, 401);  // closed unless --metrics-public
  // A backup is an operator's act: the token is asked before the store is (409 without a file).
  EXPECT_EQ(http_request(server.port(), "POST", "/v1/store/backup", "", {}).status, 401);
  EXPECT_EQ(http_request(server.port(), "POST", "/v1/store/backup", "", with_token).status, 409);
  server.stop();
  EXPECT_EQ(server.log().find(kToken), std::string::npos) << "a token reached the log";
  std::remove(tokens.c_str());
}

TEST(Auth, MetricsCanBePublic) {
  const auto tokens = write_token_file();
  JobdProcess server({"--token-file", tokens, "--metrics-public"});
  EXPECT_EQ(get(server.port(), "/metrics").status, 200);
  EXPECT_EQ(get(server.port(), "/v1/kinds").status, 401);
  std::remove(tokens.c_str());
}

TEST(Auth, UnreadableOrEmptyTokenFileStopsJobd) {
  EXPECT_THROW(JobdProcess({"--token-file", "/nonexistent/tokens"}), std::runtime_error);
}

TEST(HostileInput, MalformedBodiesGetClear400sAndTheServerStaysUp) {
  JobdProcess server;
  const std::pair<std::string, std::string> cases[] = {
      {std::string(100000, '[') + std::string(100000, ']'), "/problems/bad-json"},  // deep nesting
      {R"({"kind":"echo","kind":"sleep"})", "/problems/bad-json"},                  // duplicate keys
      {"{\"kind\":\"ec\xff\xfeho\"}", "/problems/bad-json"},                        // not UTF-8
      {R"({"kind":"primes","params":{"n":1e999}})", "/problems/bad-json"},          // overflowing number
      {R"({"kind":"primes","params":{"n":123456789012345678901234567890}})", "/problems/invalid-params"},
      {R"({"kind":"sleep","params":{"ms":-0.5}})", "/problems/invalid-params"},
      {"\"just a string\"", "/problems/invalid-request"},
      {"", "/problems/bad-json"},
  };
  for (const auto& [body, type] : cases) {
    auto response =
        http_request(server.port(), "POST", "/v1/jobs", body, {{"Content-Type", "application/json"}});
    EXPECT_EQ(response.status, 400) << body.substr(0, 60);
    EXPECT_EQ(response.json()["type"], type) << body.substr(0, 60);
  }
  EXPECT_EQ(get(server.port(), "/healthz").status, 200);
}

TEST(HostileInput, TenThousandHeadersAre431) {
  JobdProcess server;
  std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 10000; ++i) request += "X-H" + std::to_string(i) + ": v\r\n";
  request += "\r\n";
  RawConnection connection(server.port());
  connection.send(request);
  auto responses = connection.read_responses(1, 5s);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 431);
  EXPECT_EQ(get(server.port(), "/healthz").status, 200);
}

namespace {

// Connections whose answer has arrived (data or FIN is readable), polled all at once.
std::vector<std::size_t> readable(const std::vector<std::unique_ptr<RawConnection>>& connections) {
  std::vector<pollfd> polled;
  polled.reserve(connections.size());
  for (const auto& connection : connections) polled.push_back({connection->fd(), POLLIN, 0});
  ::poll(polled.data(), polled.size(), 0);
  std::vector<std::size_t> ready;
  for (std::size_t i = 0; i < polled.size(); ++i) {
    if (polled[i].revents != 0) ready.push_back(i);
  }
  return ready;
}

// Raises this process's soft open-file limit (jobd inherits it); false when the hard limit is
// too low for `needed`.
bool allow_open_files(rlim_t needed) {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return false;
  if (files.rlim_cur >= needed) return true;
  if (files.rlim_max != RLIM_INFINITY && files.rlim_max < needed) return false;
  files.rlim_cur = needed;
  return ::setrlimit(RLIMIT_NOFILE, &files) == 0;
}

}  // namespace

TEST(HostileInput, FiveThousandConnectionsHeldBeyondTheLimitAreRefusedAndLeakNoDescriptors) {
  constexpr std::size_t kLimit = 1000;
  constexpr std::size_t kFlood = 5000;
  // Not a skip: a machine that cannot hold the flood cannot show the behaviour either.
  ASSERT_TRUE(allow_open_files(2 * kFlood + 1000))
      << "needs an open-file limit of " << 2 * kFlood + 1000 << " (raise the hard limit: ulimit -Hn)";
  JobdProcess server({"--max-connections", std::to_string(kLimit)});
  const int fds_before = open_fds(server.pid());
  RawConnection keeper(server.port());
  keeper.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(keeper.read_responses(1, 5s).size(), 1u);
  {
    std::vector<std::unique_ptr<RawConnection>> flood;
    for (std::size_t i = 0; i < kFlood; ++i) flood.push_back(std::make_unique<RawConnection>(server.port()));
    // Every connection beyond the limit gets its answer; those within it stay open, silent.
    const std::size_t expected_refused = kFlood - (kLimit - 1);
    // (Within a few: a session counts itself once its coroutine first runs, just after accept.)
    ASSERT_TRUE(eventually([&] { return readable(flood).size() + 5 >= expected_refused; }, 20s))
        << readable(flood).size() << " of " << expected_refused << " refusals arrived";
    std::this_thread::sleep_for(200ms);
    const auto refused = readable(flood);
    EXPECT_LE(refused.size(), expected_refused);
    EXPECT_GE(refused.size() + 5, expected_refused);
    for (std::size_t i : refused) {
      auto responses = flood[i]->read_responses(1, 1s);
      ASSERT_EQ(responses.size(), 1u) << "connection " << i;
      EXPECT_EQ(responses[0].status, 503);
      EXPECT_EQ(responses[0].json()["type"], "/problems/too-many-connections");
      EXPECT_EQ(responses[0].header("retry-after"), "1");
    }
    // Existing clients are served while the flood is held: the first one, and held ones.
    keeper.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    auto served = keeper.read_responses(1, 5s);
    ASSERT_EQ(served.size(), 1u);
    EXPECT_EQ(served[0].status, 200);
    std::size_t held_checked = 0;
    for (std::size_t i = 0; i < flood.size() && held_checked < 20; ++i) {
      if (std::find(refused.begin(), refused.end(), i) != refused.end()) continue;
      flood[i]->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      auto answer = flood[i]->read_responses(1, 5s);
      ASSERT_EQ(answer.size(), 1u);
      EXPECT_EQ(answer[0].status, 200);
      ++held_checked;
    }
    EXPECT_EQ(held_checked, 20u);
    EXPECT_LE(open_fds(server.pid()), fds_before + static_cast<int>(kLimit) + 8);
  }
  // Once the flood is gone, the descriptors go with it.
  EXPECT_TRUE(eventually([&] { return open_fds(server.pid()) <= fds_before + 2; }, 10s))
      << "fds before " << fds_before << ", after " << open_fds(server.pid());
  EXPECT_EQ(get(server.port(), "/healthz").status, 200);
}

TEST(HostileInput, RandomCancelsUnderLoadLeaveEveryJobInExactlyOneFinalState) {
  JobdProcess server({"--test-kinds"});
  std::vector<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    json body = i % 3 == 0   ? json{{"kind", "sleep"}, {"params", {{"ms", 50 + i % 200}}}}
                : i % 3 == 1 ? json{{"kind", "primes"}, {"params", {{"n", 200000}}}}
                             : json{{"kind", "spin"}, {"params", {{"ms", 2}}}};
    auto accepted = submit(server.port(), body);
    ASSERT_EQ(accepted.status, 202);
    ids.push_back(accepted.json()["id"]);
    if (i % 2 == 0) {
      const auto& victim = ids[static_cast<std::size_t>(i * 7919 % static_cast<int>(ids.size()))];
      const int status = http_request(server.port(), "DELETE", "/v1/jobs/" + victim).status;
      EXPECT_TRUE(status == 200 || status == 202 || status == 409) << status;
    }
  }
  std::map<std::string, std::string> seen;  // id -> the final state a client read
  std::map<std::string, int> states;
  for (const auto& id : ids) {
    auto job = get(server.port(), "/v1/jobs/" + id + "?wait=30").json();
    seen[id] = job["state"].get<std::string>();
    states[job["state"].get<std::string>()] += 1;
    if (job["state"] == "succeeded") {
      EXPECT_FALSE(job.contains("error"));
    } else {
      EXPECT_TRUE(job.contains("error")) << job.dump();
    }
  }
  for (const auto& [state, count] : states)
    EXPECT_TRUE(state == "succeeded" || state == "cancelled") << state;
  EXPECT_GT(states["cancelled"], 0);
  EXPECT_GT(states["succeeded"], 0);
  // Every accepted submit got an id of its own, and the server lists exactly those jobs, each in
  // the state its client read: no job lost, duplicated or changed after it ended.
  EXPECT_EQ(seen.size(), ids.size()) << "the server handed out an id twice";
  EXPECT_EQ(listing_difference(listed_states(server.port()), seen), "");
  // The server's own counters agree with what the clients saw; a job that ended twice (say,
  // cancelled and then finished) would be counted twice.
  const auto metrics = get(server.port(), "/metrics").body;
  EXPECT_NE(metrics.find("jobd_jobs_retained{phase=\"active\"} 0"), std::string::npos);
  for (const auto& [state, count] : states) {
    EXPECT_EQ(sum_metric(metrics, "jobd_jobs_finished_total", "state=\"" + state + "\""), count) << state;
  }
  EXPECT_EQ(sum_metric(metrics, "jobd_jobs_finished_total", ""), static_cast<long>(ids.size()));
  EXPECT_EQ(sum_metric(metrics, "jobd_jobs_submitted_total", ""), static_cast<long>(ids.size()));
}
