// allocations: heap allocations per request and per job, counted inside a real jobd.
//
//   build/bench/allocations [REQUESTS=20000] [JOBD FLAGS...]
//
// This program is jobd (app::run on a thread of its own, default flags but --workers 0
// --threads 1, a port on 127.0.0.1) with the global allocator replaced by a counting one: every
// operator new and every C malloc/calloc/realloc/aligned allocation is counted, except those of
// the client thread (which sends prepared requests over one keep-alive connection with plain
// send/recv and allocates nothing while it measures). Each case warms up first (connections,
// caches, the job table's first pages), then counts over REQUESTS exchanges and prints
// allocations and bytes per exchange. The pool and spawner threads idle meanwhile; the lag
// sampler's allocations (every 50 ms) are counted with the loop's: a few per second at most.
//
// Cases: GET /healthz; GET /readyz; POST /v1/jobs?wait=5 echo (submit, run and finish, answered
// with the record: one job); POST /v1/jobs echo then GET /v1/jobs/{id}?wait=5 (submit, then
// read the finished job: one job, two requests).
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "app/app.hpp"
#include "app/logging.hpp"
#include "config/config.hpp"
#include "exec/process/fork_server.hpp"
#include "kinds/kind.hpp"

#include "counting_allocator.hpp"
#include "http_answer.hpp"

// ---- the client ------------------------------------------------------------------------------
namespace {

class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      std::perror("connect");
      std::exit(1);
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    buffer_.resize(1 << 20);
  }
  ~Client() { ::close(fd_); }

  // Sends one request and reads its response; returns the body (a view into the buffer).
  std::string_view exchange(std::string_view request, unsigned& status) {
    for (std::size_t sent = 0; sent < request.size();) {
      const auto n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) fail("send");
      sent += static_cast<std::size_t>(n);
    }
    std::size_t have = 0;
    std::size_t head_end = std::string_view::npos;
    std::size_t body_size = 0;
    for (;;) {
      const auto n = ::recv(fd_, buffer_.data() + have, buffer_.size() - have, 0);
      if (n <= 0) fail("recv");
      have += static_cast<std::size_t>(n);
      const std::string_view text(buffer_.data(), have);
      if (head_end == std::string_view::npos) {
        head_end = text.find("\r\n\r\n");
        if (head_end == std::string_view::npos) continue;
        head_end += 4;
        const auto length = text.find("Content-Length: ");
        if (length == std::string_view::npos || length > head_end) fail("no Content-Length");
        body_size = std::strtoull(buffer_.data() + length + 16, nullptr, 10);
        status = static_cast<unsigned>(std::strtoul(buffer_.data() + 9, nullptr, 10));
      }
      if (have >= head_end + body_size) return text.substr(head_end, body_size);
    }
  }

 private:
  [[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "allocations: %s failed\n", what);
    std::exit(1);
  }
  int fd_ = -1;
  std::vector<char> buffer_;
};

// A connection through one GET /healthz, then kept open (idle).
int open_idle(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) std::exit(1);
  static constexpr char kRequest[] = "GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n";
  if (::send(fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) <= 0) std::exit(1);
  char answer[512];
  if (!jobd::bench::read_answer(fd, answer, sizeof answer)) std::exit(1);
  return fd;
}

struct Counts {
  std::uint64_t news, new_bytes, mallocs, malloc_bytes;
  static Counts now() {
    return {counting::news.load(), counting::new_bytes.load(), counting::mallocs.load(),
            counting::malloc_bytes.load()};
  }
};

// Runs `step` (one exchange or job) `warmup` times, then `count` times counted; prints a row.
template <typename Step>
void measure(const char* name, std::size_t count, Step step) {
  for (std::size_t i = 0; i < std::min<std::size_t>(count, 2000); ++i) step();
  const Counts before = Counts::now();
  const auto started = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < count; ++i) step();
  const auto took = std::chrono::steady_clock::now() - started;
  const Counts after = Counts::now();
  const double n = static_cast<double>(count);
  std::printf("| %-44s | %8.2f | %9.0f | %8.2f | %9.0f | %6.1f |\n", name,
              static_cast<double>(after.news - before.news) / n,
              static_cast<double>(after.new_bytes - before.new_bytes) / n,
              static_cast<double>(after.mallocs - before.mallocs) / n,
              static_cast<double>(after.malloc_bytes - before.malloc_bytes) / n,
              std::chrono::duration<double, std::micro>(took).count() / n);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t requests = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20000;
  const auto dir =
      std::filesystem::temp_directory_path() / ("jobd-allocations-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string port_file = (dir / "port").string();
  std::vector<std::string> args = {"jobd", "--listen",  "127.0.0.1:0", "--port-file", port_file, "--workers",
                                   "0",    "--threads", "1",           "--log-level", "warn"};
  for (int i = 2; i < argc; ++i) args.emplace_back(argv[i]);
  std::vector<char*> argv_jobd;
  argv_jobd.reserve(args.size());
  for (auto& arg : args) argv_jobd.push_back(arg.data());
  auto parsed = jobd::config::parse_command_line(static_cast<int>(argv_jobd.size()), argv_jobd.data());
  if (const int* exit_code = std::get_if<int>(&parsed)) return *exit_code;
  const auto config = std::get<jobd::config::Config>(parsed);
  jobd::kinds::KindRegistry kinds;
  jobd::kinds::register_builtin_kinds(kinds);
  jobd::app::setup_logging(config.log_level, config.log_format);
  std::thread server([&] { jobd::app::run(config, kinds); });

  int port = 0;
  for (int i = 0; i < 200 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::ifstream(port_file) >> port;
  }
  if (port == 0) {
    std::fprintf(stderr, "allocations: jobd did not start\n");
    return 1;
  }
  counting::uncounted = true;  // from here on the client's own allocations are not counted
  Client client(port);
  unsigned status = 0;

  const std::string healthz = "GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n";
  const std::string readyz = "GET /readyz HTTP/1.1\r\nHost: b\r\n\r\n";
  const std::string echo_body = R"({"kind":"echo","params":{"hello":"world"}})";
  const auto post = [&](std::string_view query) {
    return "POST /v1/jobs" + std::string(query) +
           " HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(echo_body.size()) + "\r\n\r\n" + echo_body;
  };
  const std::string submit_wait = post("?wait=5");
  const std::string submit = post("");
  std::string get_job;
  get_job.reserve(256);

  std::printf("jobd allocations per exchange (%zu counted, after a warm-up; client excluded)\n\n", requests);
  std::printf("| %-44s | %8s | %9s | %8s | %9s | %6s |\n", "case", "new", "new B", "malloc", "malloc B",
              "us");
  std::printf("| %-44s | %8s | %9s | %8s | %9s | %6s |\n", "---", "---:", "---:", "---:", "---:", "---:");
  measure("GET /healthz", requests, [&] { client.exchange(healthz, status); });
  measure("GET /readyz", requests, [&] { client.exchange(readyz, status); });
  measure("POST /v1/jobs?wait=5 echo (one job)", requests, [&] {
    client.exchange(submit_wait, status);
    if (status != 200) std::fprintf(stderr, "submit: status %u\n", status);
  });
  measure("POST /v1/jobs echo + GET /v1/jobs/{id}?wait=5", requests, [&] {
    const std::string_view body = client.exchange(submit, status);
    if (status != 202 && status != 200) std::fprintf(stderr, "submit: status %u\n", status);
    get_job.assign("GET /v1/jobs/");
    const auto at = body.find(R"("id":")");
    const auto start = at + 6;
    get_job.append(body.substr(start, body.find('"', start) - start));
    get_job.append("?wait=5 HTTP/1.1\r\nHost: b\r\n\r\n");
    client.exchange(get_job, status);
    if (status != 200) std::fprintf(stderr, "get: status %u\n", status);
  });

  // Idle keep-alive connections: each opened, through one GET /healthz, then left waiting.
  // Heap bytes still held per connection, and the sizes allocated on the way.
  constexpr int kIdle = 1000;
  std::vector<int> idle;
  idle.reserve(kIdle);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::int64_t live_before = counting::live_bytes.load();
  const Counts idle_before = Counts::now();
  counting::tracking = true;
  for (int i = 0; i < kIdle; ++i) idle.push_back(open_idle(port));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  counting::tracking = false;
  const Counts idle_after = Counts::now();
  const std::int64_t live_after = counting::live_bytes.load();
  std::printf(
      "\n%d idle keep-alive connections (each after one GET /healthz): %.0f heap bytes held per "
      "connection, %.1f allocations made per connection\n",
      kIdle, static_cast<double>(live_after - live_before) / kIdle,
      static_cast<double>((idle_after.news - idle_before.news) + (idle_after.mallocs - idle_before.mallocs)) /
          kIdle);
  // What each idle connection still holds, by usable size (the allocator's chunk, less 8).
  auto held = counting::held_sizes();  // size, count
  std::sort(held.begin(), held.end(),
            [](const auto& a, const auto& b) { return a.first * a.second > b.first * b.second; });
  std::printf("held per connection (usable bytes x count):");
  for (const auto& [size, count] : held) {
    if (count >= kIdle / 2) std::printf(" %zu x %.2f", size, static_cast<double>(count) / kIdle);
  }
  std::printf("\n");
  for (int fd : idle) ::close(fd);
  std::fflush(stdout);
  std::filesystem::remove_all(dir);
  std::_Exit(0);  // no drain: the numbers are printed
}
