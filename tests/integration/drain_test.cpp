// SIGTERM with clients still sending: every request that reached jobd gets an answer, every
// answer given during the drain says `Connection: close`, and jobd exits within the drain
// timeout plus the kill grace even when a thread job never looks at its stop token.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// One answer a load client received.
struct Answer {
  int status = 0;
  bool close = false;       // Connection: close
  std::string type;         // problem type of an error answer
  std::string retry_after;  // Retry-After
  std::string finished_at;  // finished_at of a job answered 200
};

struct Tally {
  std::atomic<int> sent{0};
  std::atomic<int> unanswered{0};
  std::mutex mutex;
  std::vector<Answer> answers;
};

std::string submit_request(int sleep_ms, bool close) {
  const std::string body = R"({"kind":"sleep","params":{"ms":)" + std::to_string(sleep_ms) + "}}";
  return "POST /v1/jobs?wait=5 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         std::string(close ? "Connection: close\r\n" : "") +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A client that submits and waits, one request at a time, on one keep-alive connection until an
// answer says close (or on a new connection per request, `close`); then connects again, until
// the listener is gone (or `until`).
void load_client(std::uint16_t port, int sleep_ms, bool close, Tally& tally, Clock::time_point until) {
  const std::string request = submit_request(sleep_ms, close);
  std::unique_ptr<RawConnection> connection;
  while (Clock::now() < until) {
    if (!connection) {
      try {
        connection = std::make_unique<RawConnection>(port);
      } catch (const std::runtime_error&) {
        return;  // refused: jobd stopped accepting
      }
    }
    if (!connection->send(request)) {
      connection.reset();
      continue;
    }
    ++tally.sent;
    auto responses = connection->read_responses(1, 15s);
    if (responses.empty()) {
      ++tally.unanswered;
      connection.reset();
      continue;
    }
    const HttpResult& response = responses.front();
    Answer answer{response.status, response.header("connection") == "close", "",
                  response.header("retry-after"), ""};
    const auto json = nlohmann::json::parse(response.body, nullptr, false);
    if (json.is_object()) {
      answer.type = json.value("type", "");
      answer.finished_at = json.value("finished_at", "");
    }
    {
      std::lock_guard lock(tally.mutex);
      tally.answers.push_back(answer);
    }
    if (answer.close) connection.reset();
  }
}

// The time of jobd's "draining:" log line (RFC 3339 UTC with milliseconds, like finished_at).
std::string drain_started_at(const std::string& log) {
  const auto at = log.find(" info draining:");
  if (at == std::string::npos || at < 24) return "";
  return log.substr(at - 24, 24);
}

}  // namespace

TEST(Drain, ClientsUnderLoadGetAnAnswerToEveryRequestAndEveryAnswerDuringTheDrainCloses) {
  JobdProcess server({"--drain-timeout", "10s", "--workers", "0"});
  constexpr int kClients = 100;
  Tally tally;
  const auto until = Clock::now() + 30s;  // a bound, never reached when all goes well
  std::vector<std::thread> clients;
  // Jobs of 100 to 400 ms; one client in five opens a connection per request, so that some are
  // always on their way in (the listen backlog) when the drain begins.
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(load_client, server.port(), 100 + 100 * (i % 4), i % 5 == 4, std::ref(tally), until);
  }
  std::this_thread::sleep_for(1500ms);
  ::kill(server.pid(), SIGTERM);
  for (auto& client : clients) client.join();
  EXPECT_EQ(server.stop(0, 15s), 0);

  const std::string drain_start = drain_started_at(server.log());
  ASSERT_FALSE(drain_start.empty()) << server.log();
  // Counted rather than checked one by one: a failure says how many, not a hundred times.
  int draining = 0;
  int draining_kept_alive = 0;  // 503 draining without Connection: close
  int draining_malformed = 0;   // 503 without the draining type or Retry-After
  int finished_during_drain = 0;
  int finished_kept_alive = 0;  // a job answered after the drain began, without Connection: close
  int other = 0;
  for (const auto& answer : tally.answers) {
    if (answer.status == 503) {
      ++draining;
      if (!answer.close) ++draining_kept_alive;
      if (answer.type != "/problems/draining" || answer.retry_after != "1") ++draining_malformed;
    } else if (answer.status != 200) {
      ++other;
    } else if (answer.finished_at > drain_start) {  // a later millisecond than the log line's
      ++finished_during_drain;
      if (!answer.close) ++finished_kept_alive;
    }
  }
  EXPECT_EQ(draining_kept_alive, 0) << "of " << draining << " 503 draining answers";
  EXPECT_EQ(draining_malformed, 0) << "of " << draining << " 503 answers";
  EXPECT_EQ(finished_kept_alive, 0) << "of " << finished_during_drain
                                    << " jobs finished after the drain began (" << drain_start << ")";
  EXPECT_EQ(other, 0) << "answers neither 200 nor 503";
  const int answered = static_cast<int>(tally.answers.size());
  EXPECT_EQ(tally.unanswered.load(), 0) << tally.sent << " sent, " << answered << " answered";
  EXPECT_EQ(answered, tally.sent.load());
  EXPECT_GT(finished_during_drain, 0) << "no job finished during the drain";
  std::printf("[ figures  ] %d sent, %d answered (%d during the drain, %d 503 draining), %d unanswered\n",
              tally.sent.load(), answered, finished_during_drain, draining, tally.unanswered.load());
}

TEST(Drain, RequestsPipelinedOnAnIdleConnectionDuringTheDrainAreAllAnsweredThenItCloses) {
  JobdProcess server({"--workers", "0"});
  RawConnection idle(server.port());  // opened before the drain, idle when it begins
  const auto id = submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 800}}}}).json()["id"];
  ::kill(server.pid(), SIGTERM);
  std::this_thread::sleep_for(150ms);
  const std::string body = R"({"kind":"echo"})";
  idle.send(
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body + "GET /v1/jobs/" + id.get<std::string>() +
      " HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto responses = idle.read_responses(3, 5s);
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(responses[1].status, 503);
  EXPECT_EQ(responses[1].json()["type"], "/problems/draining");
  EXPECT_EQ(responses[1].header("retry-after"), "1");
  EXPECT_EQ(responses[2].status, 200);
  for (const auto& response : responses) EXPECT_EQ(response.header("connection"), "close");
  EXPECT_TRUE(idle.closed_by_peer(3s));
  EXPECT_EQ(server.stop(0, 10s), 0);
}

TEST(Drain, AThreadJobIgnoringItsStopTokenDoesNotHoldTheExitPastDrainTimeoutAndKillGrace) {
  JobdProcess server({"--test-kinds", "--drain-timeout", "1s", "--kill-grace", "1s", "--workers", "0"});
  const auto id =
      submit(server.port(), {{"kind", "spin"}, {"executor", "thread"}, {"params", {{"ms", 8000}}}})
          .json()["id"]
          .get<std::string>();
  ASSERT_TRUE(eventually([&] { return get(server.port(), "/v1/jobs/" + id).json()["state"] == "running"; }));
  std::future<HttpResult> waiting =
      std::async(std::launch::async, [&] { return get(server.port(), "/v1/jobs/" + id + "?wait=20"); });
  std::this_thread::sleep_for(100ms);
  const auto start = Clock::now();
  ::kill(server.pid(), SIGTERM);
  const HttpResult finished = waiting.get();
  EXPECT_EQ(finished.status, 200);
  EXPECT_EQ(finished.json()["state"], "cancelled");
  EXPECT_EQ(server.stop(0, 15s), 0);
  const auto took = Clock::now() - start;
  // 1 s of drain, 1 s of grace for the thread, and room for a loaded machine.
  EXPECT_LT(took, 3500ms) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  EXPECT_NE(server.log().find("stop token"), std::string::npos) << "the log says why it did not wait";
}
