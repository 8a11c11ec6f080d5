// What careless clients do to a server that must stay up for everyone else: leave it full of
// finished jobs, walk away from long-polls and streams, keep sending through a drain.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "harness.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;

namespace {

// Resident memory of a process in KiB, from /proc (0 when it cannot be read).
[[maybe_unused]] long resident_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return 0;
}

// `count` echo jobs with ~1,000 bytes of params, pipelined on a few keep-alive connections.
[[maybe_unused]] void submit_many(std::uint16_t port, int count) {
  const std::string body = R"({"kind":"echo","params":{"pad":")" + std::string(1000, 'x') + R"("}})";
  const std::string request =
      "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  constexpr int kConnections = 4;
  constexpr int kBatch = 250;
  std::vector<std::thread> clients;
  clients.reserve(kConnections);
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

// `count` clients that connect, send `request` and close without reading: a client that gave up.
// Plain sockets (no contract log): nothing is read.
void abandon(std::uint16_t port, const std::string& request, int count) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < count; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    }
    ::close(fd);
  }
}

}  // namespace

TEST(CarelessClients, AbandonedLongPollsFreeTheirConnectionsWithinSeconds) {
  JobdProcess server({"--max-connections", "500", "--workers", "0"});
  const auto id =
      submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 60000}}}}).json()["id"].get<std::string>();
  // 2,000 long-polls of 30 s whose clients leave at once: four times the connection limit.
  abandon(server.port(), "GET /v1/jobs/" + id + "?wait=30 HTTP/1.1\r\nHost: x\r\n\r\n", 2000);
  const auto flood_end = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] { return get(server.port(), "/healthz").status == 200; }, 2s));
  // Only the probe's own connection is left; the job's waiters are gone with their clients.
  EXPECT_TRUE(eventually([&] { return scraped_metric(server.port(), "jobd_http_connections") <= 1; }, 2s))
      << scraped_metric(server.port(), "jobd_http_connections") << " connections";
  std::printf("[ figures  ] /healthz answered again %lld ms after 2,000 abandoned long-polls\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - flood_end)
                                         .count()));
  // The job itself is untouched: a client that leaves a long-poll does not cancel what it waited for.
  EXPECT_EQ(get(server.port(), "/v1/jobs/" + id).json()["state"], "running");
}

TEST(CarelessClients, AbandonedEventStreamsFreeTheirConnectionsBeforeAnyHeartbeat) {
  JobdProcess server({"--max-connections", "500", "--sse-heartbeat", "10m", "--workers", "0"});
  abandon(server.port(), open_stream_request("/v1/events"), 2000);
  const auto flood_end = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] { return get(server.port(), "/healthz").status == 200; }, 2s));
  EXPECT_TRUE(eventually([&] { return scraped_metric(server.port(), "jobd_sse_subscribers") == 0; }, 2s))
      << scraped_metric(server.port(), "jobd_sse_subscribers") << " streams";
  EXPECT_TRUE(eventually([&] { return scraped_metric(server.port(), "jobd_http_connections") <= 1; }, 2s));
  std::printf("[ figures  ] /healthz answered again %lld ms after 2,000 abandoned event streams\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - flood_end)
                                         .count()));
}

#if !JOBD_ASAN_BUILD  // the native allocator's memory (harness.hpp)
TEST(CarelessClients, MemoryGoesBackNearIdleOnceEvictionEmptiesTheTable) {
  // A retention longer than the submissions take on a busy machine: the plateau is measured
  // before the first evictions. The table's memory is the subject, so no store: with SQLite
  // each submit waits for its commit and 20,000 of them outlast the retention under load.
  JobdProcess server({"--retention", "4s", "--max-jobs", "1000000", "--workers", "0", "--store", "memory:"});
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
#endif
