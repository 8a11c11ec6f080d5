// What careless clients do to a server that must stay up for everyone else: leave it full of
// finished jobs, walk away from long-polls and streams, keep sending through a drain.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;

namespace {

// Resident memory of a process in KiB, from /proc (0 when it cannot be read).
long resident_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return 0;
}

// `count` echo jobs with ~1,000 bytes of params, pipelined on a few keep-alive connections.
void submit_many(std::uint16_t port, int count) {
  const std::string body = R"({"kind":"echo","params":{"pad":")" + std::string(1000, 'x') + R"("}})";
  const std::string request =
      "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  constexpr int kConnections = 4;
  constexpr int kBatch = 250;
  std::vector<std::thread> clients;
  for (int c = 0; c < kConnections; ++c) {
    clients.emplace_back([&] {
      RawConnection connection(port);
      for (int sent = 0; sent < count / kConnections; sent += kBatch) {
        std::string batch;
        for (int i = 0; i < kBatch; ++i) batch += request;
        ASSERT_TRUE(connection.send(batch));
        const auto responses = connection.read_responses(kBatch, 30s);
        ASSERT_EQ(responses.size(), static_cast<std::size_t>(kBatch));
        for (const auto& response : responses) ASSERT_EQ(response.status, 202) << response.body;
      }
    });
  }
  for (auto& client : clients) client.join();
}

}  // namespace

TEST(CarelessClients, MemoryGoesBackNearIdleOnceEvictionEmptiesTheTable) {
  // A retention longer than the submissions take on a busy machine: the plateau is measured
  // before the first evictions.
  JobdProcess server({"--retention", "4s", "--max-jobs", "1000000", "--workers", "0"});
  const long idle = resident_kib(server.pid());
  submit_many(server.port(), 20000);
  const long plateau = resident_kib(server.pid());
  ASSERT_GT(plateau - idle, 20 * 1024) << "20,000 retained jobs should hold well over 20 MiB";
  // Evicted after 4 s by the once-a-second sweep; memory is returned after it.
  EXPECT_TRUE(eventually([&] { return resident_kib(server.pid()) < idle + (plateau - idle) / 4; }, 9s))
      << "idle " << idle << " KiB, plateau " << plateau << " KiB, now " << resident_kib(server.pid())
      << " KiB";
  EXPECT_EQ(get(server.port(), "/healthz").status, 200);
}
