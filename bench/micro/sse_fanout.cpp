// SSE fan-out benchmark: N subscribers follow one job that emits E progress events.
//   sse_fanout PORT [subscribers=1000] [events=10000]
// Needs jobd with --test-kinds (the `chatter` kind). Prints events delivered per second.
// Talks only to 127.0.0.1; ends when every stream has ended (or after 120 s).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {
int connect_local(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  return fd;
}

std::string exchange(int port, const std::string& request) {
  const int fd = connect_local(port);
  (void)!::write(fd, request.data(), request.size());
  std::string reply;
  char buffer[65536];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
    reply.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  return reply;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: sse_fanout PORT [subscribers] [events]\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const int subscribers = argc > 2 ? std::atoi(argv[2]) : 1000;
  const int events = argc > 3 ? std::atoi(argv[3]) : 10000;

  const std::string body =
      R"({"kind":"chatter","params":{"events":)" + std::to_string(events) + R"(,"delay_ms":1500}})";
  const std::string reply = exchange(port,
                                     "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                     "Content-Type: application/json\r\nContent-Length: " +
                                         std::to_string(body.size()) + "\r\n\r\n" + body);
  const auto at = reply.find("\"id\":\"");
  if (at == std::string::npos) {
    std::fprintf(stderr, "submit failed: %s\n", reply.c_str());
    return 1;
  }
  const std::string id = reply.substr(at + 6, 32);

  std::vector<pollfd> fds;
  std::vector<long> seen(static_cast<std::size_t>(subscribers), 0);
  std::vector<std::string> tails(static_cast<std::size_t>(subscribers));
  const std::string request = "GET /v1/jobs/" + id + "/events HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < subscribers; ++i) {
    const int fd = connect_local(port);
    (void)!::write(fd, request.data(), request.size());
    fds.push_back({fd, POLLIN, 0});
  }
  long total = 0;
  int open = subscribers;
  std::chrono::steady_clock::time_point first{};
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  char buffer[1 << 16];
  while (open > 0 && std::chrono::steady_clock::now() < give_up) {
    if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
        continue;
      }
      // Count "event: progress" markers, across read boundaries.
      std::string text = tails[i] + std::string(buffer, static_cast<std::size_t>(n));
      std::size_t pos = 0;
      while ((pos = text.find("event: progress", pos)) != std::string::npos) {
        if (first == std::chrono::steady_clock::time_point{}) first = std::chrono::steady_clock::now();
        ++seen[i];
        ++total;
        pos += 15;
      }
      tails[i] = text.size() > 14 ? text.substr(text.size() - 14) : text;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - first).count();
  long complete = 0;
  for (long count : seen) complete += count == events;
  std::printf(
      "sse_fanout subscribers=%d events_per_job=%d delivered=%ld complete_streams=%ld seconds=%.2f "
      "events_per_s=%.0f\n",
      subscribers, events, total, complete, seconds, static_cast<double>(total) / seconds);
  return 0;
}
