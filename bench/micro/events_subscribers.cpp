// events_subscribers: N clients of GET /v1/events that read everything and keep nothing, for
// bench/events_fanout.
//   events_subscribers PORT [subscribers=500] [seconds=30] [query=]
// Opens the streams (query, e.g. "state=succeeded", applies to all), prints "ready" once every
// stream answered 200, reads until `seconds` passed or SIGTERM/SIGINT, then prints how many
// state events the streams received in all and how many the server reported dropped (the sum of
// the `dropped` events' counts). Talks only
// to 127.0.0.1; libc only. epoll, not poll: a poll over 500 descriptors per wake-up made this
// client, not jobd, the limit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

volatile std::sig_atomic_t stop = 0;

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

// Reads one stream's SSE text piece by piece, line by line (a line split across reads is kept
// until its end comes): counts state events, and sums the counts of `dropped` events (each
// stands for that many events the server could not queue for this reader).
struct Stream {
  std::string line;  // the unfinished last line
  bool after_dropped = false;
  long states = 0;
  long dropped = 0;
  void feed(std::string_view piece) {
    while (!piece.empty()) {
      const std::size_t end = piece.find('\n');
      if (end == std::string_view::npos) {
        line.append(piece);
        return;
      }
      std::string_view whole = piece.substr(0, end);
      if (!line.empty()) {
        line.append(whole);
        whole = line;
      }
      take(whole);
      line.clear();
      piece.remove_prefix(end + 1);
    }
  }
  void take(std::string_view text) {
    constexpr std::string_view kCount = "data: {\"count\":";
    if (text == "event: state") ++states;
    if (after_dropped && text.starts_with(kCount))
      dropped += std::atol(std::string(text.substr(kCount.size())).c_str());
    after_dropped = text == "event: dropped";
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: events_subscribers PORT [subscribers] [seconds] [query]\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const int subscribers = argc > 2 ? std::atoi(argv[2]) : 500;
  const int seconds = argc > 3 ? std::atoi(argv[3]) : 30;
  const std::string query = argc > 4 ? argv[4] : "";
  std::signal(SIGTERM, [](int) { stop = 1; });
  std::signal(SIGINT, [](int) { stop = 1; });

  const std::string request =
      "GET /v1/events" + (query.empty() ? std::string() : "?" + query) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  std::vector<int> fds;
  std::vector<Stream> streams(static_cast<std::size_t>(subscribers));
  std::vector<bool> answered(static_cast<std::size_t>(subscribers), false);
  const int epoll = ::epoll_create1(0);
  for (int i = 0; i < subscribers; ++i) {
    const int fd = connect_local(port);
    (void)!::write(fd, request.data(), request.size());
    epoll_event interest{};
    interest.events = EPOLLIN;
    interest.data.u64 = static_cast<std::uint64_t>(i);
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &interest);
    fds.push_back(fd);
  }
  int open = subscribers;
  int waiting = subscribers;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  static char buffer[1 << 16];
  epoll_event ready[256];
  while (!stop && open > 0 && std::chrono::steady_clock::now() < until) {
    const int count = ::epoll_wait(epoll, ready, 256, 200);
    for (int r = 0; r < count; ++r) {
      const auto i = static_cast<std::size_t>(ready[r].data.u64);
      const ssize_t n = ::read(fds[i], buffer, sizeof buffer);
      if (n <= 0) {
        ::close(fds[i]);
        --open;
        continue;
      }
      const std::string_view piece(buffer, static_cast<std::size_t>(n));
      if (!answered[i]) {
        answered[i] = true;
        if (piece.substr(0, 12) != "HTTP/1.1 200") {
          std::fprintf(stderr, "stream %zu refused: %.*s\n", i, static_cast<int>(std::min<ssize_t>(n, 200)),
                       buffer);
          return 1;
        }
        if (--waiting == 0) {
          std::printf("ready\n");
          std::fflush(stdout);
        }
      }
      streams[i].feed(piece);
    }
  }
  long state_events = 0;
  long dropped_events = 0;
  for (const auto& stream : streams) {
    state_events += stream.states;
    dropped_events += stream.dropped;
  }
  std::printf("events_subscribers subscribers=%d open=%d state_events=%ld dropped_events=%ld\n", subscribers,
              open, state_events, dropped_events);
  return 0;
}
