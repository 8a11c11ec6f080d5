// idle_connections: what an idle keep-alive connection costs a server in RSS.
//
//   build/bench/idle_connections PORT PID [CONNECTIONS=10000] [HOLD_SECONDS=3]
//
// Reads the server's VmRSS (/proc/PID/status), then opens CONNECTIONS connections to
// 127.0.0.1:PORT, each sending one `GET /healthz` and reading its answer (so every connection
// went through a whole request and now waits, idle, for its next one), holds them all for
// HOLD_SECONDS, reads VmRSS again and prints both with the difference per connection. Bounded:
// at most CONNECTIONS sockets, one request each, 127.0.0.1 only; check `ulimit -n` first.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http_answer.hpp"

namespace {

long rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// One connection through one request; -1 when it failed.
int open_one(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  static constexpr char kRequest[] = "GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n";
  if (::send(fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) != sizeof kRequest - 1) {
    ::close(fd);
    return -1;
  }
  char answer[1024];
  if (!jobd::bench::read_answer(fd, answer, sizeof answer)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: idle_connections PORT PID [CONNECTIONS] [HOLD_SECONDS]\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const int pid = std::atoi(argv[2]);
  const long count = argc > 3 ? std::atol(argv[3]) : 10000;
  const int hold = argc > 4 ? std::atoi(argv[4]) : 3;
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_cur < static_cast<rlim_t>(count) + 16) {
    files.rlim_cur = std::min<rlim_t>(files.rlim_max, static_cast<rlim_t>(count) + 16);
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  const long before = rss_kib(pid);
  std::vector<int> held;
  held.reserve(static_cast<std::size_t>(count));
  long failed = 0;
  for (long i = 0; i < count; ++i) {
    const int fd = open_one(port);
    if (fd < 0) {
      ++failed;
      continue;
    }
    held.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::seconds(hold));
  const long after = rss_kib(pid);
  std::printf("connections=%zu failed=%ld rss_before_kib=%ld rss_after_kib=%ld bytes_per_connection=%ld\n",
              held.size(), failed, before, after,
              held.empty() ? 0 : (after - before) * 1024 / static_cast<long>(held.size()));
  for (int fd : held) ::close(fd);
  return 0;
}
