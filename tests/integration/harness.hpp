// Test harness of the integration tests: starts the real jobd binary on an ephemeral port of
// 127.0.0.1, talks HTTP/1.1 to it over plain sockets, and always stops it by PID (SIGKILL in
// the destructor if it still runs; the child also dies with the test through PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace jobd::testing {

using namespace std::chrono_literals;

// Whether this build (tests and jobd alike) runs under AddressSanitizer. Its allocator replaces
// the one the memory tests measure (it quarantines freed memory and reserves terabytes of address
// space, so RLIMIT_AS cannot be enforced): those tests are compiled only without it, and the
// release stage of scripts/test runs them.
#if defined(__SANITIZE_ADDRESS__)
#define JOBD_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JOBD_ASAN_BUILD 1
#endif
#endif
#ifndef JOBD_ASAN_BUILD
#define JOBD_ASAN_BUILD 0
#endif

class JobdProcess {
 public:
  // Starts jobd with `--listen 127.0.0.1:0 --port-file ...` plus `args` (which may name another
  // --listen); `env` entries are "NAME=value" added to a minimal environment. Waits up to 10 s
  // for /readyz to answer 200 (unless wait_ready is false: then only for the port). Unless
  // `args` or `env` name a store, jobd keeps its jobs in a SQLite file of its own temporary
  // directory (the default store, exercised by every test), removed at teardown. Throws
  // std::runtime_error on failure, with jobd's log in the message.
  explicit JobdProcess(std::vector<std::string> args = {}, std::vector<std::string> env = {},
                       bool wait_ready = true);
  ~JobdProcess();
  JobdProcess(const JobdProcess&) = delete;
  JobdProcess& operator=(const JobdProcess&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_ < 0 ? -pid_ : pid_; }
  // Sends `signo` (default SIGTERM) and waits up to `timeout` for the exit. Returns the exit
  // code, or 128 + signal if it was killed, or -1 if it did not exit in time (then SIGKILLed).
  int stop(int signo = 15, std::chrono::milliseconds timeout = 20s);
  // Everything jobd wrote to stderr so far.
  std::string log() const;
  bool running();

 private:
  pid_t pid_ = -1;  // negative once reaped
  int exit_status_ = -1;
  std::uint16_t port_ = 0;
  std::string dir_;  // temporary directory: port file and log
};

struct HttpResult {
  int status = 0;                              // 0 when no response arrived
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// One request on a fresh connection (Connection: close), blocking, bounded by `timeout`.
HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body = "", const Headers& headers = {},
                        std::chrono::milliseconds timeout = 30s);
// POST /v1/jobs with a JSON body; `query` such as "?wait=5".
HttpResult submit(std::uint16_t port, const nlohmann::json& body, const std::string& query = "");
HttpResult get(std::uint16_t port, const std::string& target);

// A raw client connection for tests that need byte-level control (pipelining, slow clients).
class RawConnection {
 public:
  // `receive_buffer` > 0 sets SO_RCVBUF before connecting (a slow reader's small window).
  explicit RawConnection(std::uint16_t port, int receive_buffer = 0);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  bool send(const std::string& bytes);  // false when the peer closed
  // Reads until `count` complete HTTP responses arrived, or EOF, or `timeout`.
  std::vector<HttpResult> read_responses(std::size_t count, std::chrono::milliseconds timeout = 10s);
  // Everything the server sends until it closes the connection or `timeout` passes.
  std::string read_all(std::chrono::milliseconds timeout = 10s);
  // True when the server closed the connection within `timeout` (reads and discards data).
  bool closed_by_peer(std::chrono::milliseconds timeout);
  // What one read returns once data arrives within `timeout` (empty on timeout or close).
  std::string read_some(std::chrono::milliseconds timeout);
  // For poll() and shutdown() only: bytes read past this class escape the contract log.
  int fd() const { return fd_; }

 private:
  enum class Received { data, closed, timeout };
  // One recv() into pending_ (and the contract log), waiting until `deadline` for data.
  Received receive(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string pending_;
  // The whole exchange, for the contract log (contract_log.hpp), kept only when it records.
  bool logging_ = false;
  std::string sent_log_;
  std::string received_log_;
  bool closed_ = false;
};

// One Server-Sent Event.
struct SseEvent {
  std::string id;
  std::string type;
  nlohmann::json data;
};

// Parses the events of an SSE body (comments and the HTTP head are skipped; an incomplete last
// event is left out).
std::vector<SseEvent> parse_sse(const std::string& raw);
// A GET that opens an event stream, with Last-Event-ID when `last_event_id` is not empty.
std::string open_stream_request(const std::string& target, const std::string& last_event_id = "");

// Polls `predicate` every 10 ms until it is true or `timeout` passes; returns its last value.
template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = 5s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (predicate()) return true;
    struct timespec pause {
      0, 10'000'000
    };
    nanosleep(&pause, nullptr);
  }
  return predicate();
}

// The whole content of a file (empty when it cannot be read).
std::string read_file(const std::string& path);

// What a jobd that was meant to exit printed (stdout and stderr) and its exit code.
struct JobdRun {
  int exit_code = -1;  // -1: killed (by the 10 s bound) or not started
  std::string output;
};
// Runs `jobd --listen 127.0.0.1:0 ARGS` until it exits, at most 10 s (`timeout` kills it then):
// for start-ups that must fail.
JobdRun run_jobd_until_exit(const std::string& args);

// The value of one sample (name and labels, as printed) of a /metrics text, or -1 when absent.
double metric_value(const std::string& text, const std::string& sample);
// The same, read from GET /metrics of the jobd on `port`.
double scraped_metric(std::uint16_t port, const std::string& sample);

// PIDs of the direct and indirect children of `pid`, from /proc.
std::vector<pid_t> descendants(pid_t pid);

}  // namespace jobd::testing
