#include "harness.hpp"

#include "contract_log.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef JOBD_BINARY
#error "JOBD_BINARY must name the jobd executable under test"
#endif

namespace jobd::testing {

JobdRun run_jobd_until_exit(const std::string& args) {
  const std::string command =
      "timeout 10 " + std::string(JOBD_BINARY) + " --listen 127.0.0.1:0 " + args + " 2>&1";
  JobdRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), chunk.size(), pipe) != nullptr) run.output += chunk.data();
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

double metric_value(const std::string& text, const std::string& sample) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(sample + " ")) return std::stod(line.substr(sample.size() + 1));
  }
  return -1;
}

double scraped_metric(std::uint16_t port, const std::string& sample) {
  return metric_value(get(port, "/metrics").body, sample);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

namespace {

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

int connect_to(std::uint16_t port, int receive_buffer = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (receive_buffer > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Parses one complete response from the front of `data`; returns bytes used, 0 if incomplete.
std::size_t parse_response(const std::string& data, HttpResult& out, bool at_eof) {
  const auto end_of_headers = data.find("\r\n\r\n");
  if (end_of_headers == std::string::npos) return 0;
  std::istringstream head(data.substr(0, end_of_headers));
  std::string line;
  std::getline(head, line);
  HttpResult result;
  if (line.size() < 12) return 0;
  result.status = std::stoi(line.substr(9, 3));
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    result.headers[lower(line.substr(0, colon))] = value;
  }
  const std::size_t body_start = end_of_headers + 4;
  if (result.status / 100 == 1) {  // 100 Continue: no body
    out = result;
    return body_start;
  }
  std::size_t length = 0;
  if (auto it = result.headers.find("content-length"); it != result.headers.end()) {
    length = std::stoul(it->second);
  } else if (at_eof) {
    length = data.size() - body_start;
  } else {
    return 0;
  }
  if (data.size() < body_start + length) return 0;
  result.body = data.substr(body_start, length);
  out = std::move(result);
  return body_start + length;
}

}  // namespace

JobdProcess::JobdProcess(std::vector<std::string> args, std::vector<std::string> env, bool wait_ready) {
  char pattern[] = "/tmp/jobd-test-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  const std::string port_file = dir_ + "/port";
  const std::string log_file = dir_ + "/jobd.log";

  std::vector<std::string> argv_strings = {JOBD_BINARY, "--port-file", port_file};
  if (std::find(args.begin(), args.end(), "--listen") == args.end()) {
    argv_strings.insert(argv_strings.end(), {"--listen", "127.0.0.1:0"});
  }
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  // The default store (SQLite) in the test's own directory, removed with it, unless the test
  // names a store itself (flag or environment).
  const bool names_store = std::find(args.begin(), args.end(), "--store") != args.end() ||
                           std::any_of(env.begin(), env.end(), [](const std::string& entry) {
                             return entry.starts_with("JOBD_STORE=");
                           });
  if (!names_store) argv_strings.insert(argv_strings.end(), {"--store", "sqlite:" + dir_ + "/jobd.db"});
  std::vector<char*> argv;
  argv.reserve(argv_strings.size() + 1);
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  env.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // jobd dies with the test process, even if the test crashes before its destructor runs.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (port_ == 0) {
    if (std::chrono::steady_clock::now() > deadline || !running()) {
      const std::string text = log();
      stop(SIGKILL, 2s);
      throw std::runtime_error("jobd did not start; its log:\n" + text);
    }
    const std::string content = read_file(port_file);
    if (!content.empty() && content.back() == '\n') port_ = static_cast<std::uint16_t>(std::stoi(content));
    if (port_ == 0) std::this_thread::sleep_for(5ms);
  }
  if (!wait_ready) return;
  while (get(port_, "/readyz").status != 200) {
    if (std::chrono::steady_clock::now() > deadline || !running()) {
      const std::string text = log();
      stop(SIGKILL, 2s);
      throw std::runtime_error("jobd did not become ready; its log:\n" + text);
    }
    std::this_thread::sleep_for(10ms);
  }
}

JobdProcess::~JobdProcess() {
  if (pid_ > 0) stop(SIGKILL, 5s);
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

bool JobdProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -pid_;  // remember it, but mark it reaped
    return false;
  }
  return true;
}

int JobdProcess::stop(int signo, std::chrono::milliseconds timeout) {
  if (!running()) return exit_status_;
  ::kill(pid_, signo);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -pid_;
      return -1;
    }
    std::this_thread::sleep_for(5ms);
  }
  return exit_status_;
}

std::string JobdProcess::log() const { return read_file(dir_ + "/jobd.log"); }

HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body, const Headers& headers, std::chrono::milliseconds timeout) {
  RawConnection connection(port);
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) request.append(name).append(": ").append(value).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  connection.send(request);
  auto responses = connection.read_responses(1, timeout);
  return responses.empty() ? HttpResult{} : responses.front();
}

HttpResult submit(std::uint16_t port, const nlohmann::json& body, const std::string& query) {
  return http_request(port, "POST", "/v1/jobs" + query, body.dump(), {{"Content-Type", "application/json"}});
}

HttpResult get(std::uint16_t port, const std::string& target) { return http_request(port, "GET", target); }

RawConnection::RawConnection(std::uint16_t port, int receive_buffer)
    : fd_(connect_to(port, receive_buffer)), logging_(contract::enabled()) {
  if (fd_ < 0) throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
  if (logging_) contract::record_exchange(sent_log_, received_log_, closed_);
}

bool RawConnection::send(const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    if (logging_) sent_log_.append(bytes, sent, static_cast<std::size_t>(n));
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

RawConnection::Received RawConnection::receive(std::chrono::steady_clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return Received::timeout;
  pollfd descriptor{fd_, POLLIN, 0};
  if (::poll(&descriptor, 1, static_cast<int>(left.count())) <= 0) return Received::timeout;
  char buffer[65536];
  const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
  if (n <= 0) {
    closed_ = true;
    return Received::closed;
  }
  pending_.append(buffer, static_cast<std::size_t>(n));
  if (logging_) received_log_.append(buffer, static_cast<std::size_t>(n));
  return Received::data;
}

std::vector<HttpResult> RawConnection::read_responses(std::size_t count, std::chrono::milliseconds timeout) {
  std::vector<HttpResult> results;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool eof = false;
  while (results.size() < count) {
    HttpResult result;
    if (const auto used = parse_response(pending_, result, eof); used > 0) {
      pending_.erase(0, used);
      if (result.status / 100 != 1) results.push_back(std::move(result));
      continue;
    }
    if (eof) break;
    const Received received = receive(deadline);
    if (received == Received::timeout) break;
    eof = received == Received::closed;
  }
  return results;
}

std::string RawConnection::read_all(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (receive(deadline) == Received::data) {
  }
  return std::exchange(pending_, {});
}

std::string RawConnection::read_some(std::chrono::milliseconds timeout) {
  receive(std::chrono::steady_clock::now() + timeout);
  return std::exchange(pending_, {});
}

bool RawConnection::closed_by_peer(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::size_t kept = pending_.size();
    const Received received = receive(deadline);
    pending_.resize(kept);  // what arrives now is discarded (the contract log keeps it)
    if (received != Received::data) return received == Received::closed;
  }
}

std::vector<pid_t> descendants(pid_t pid) {
  // Parent links of every process, from /proc/*/stat (field 4).
  std::vector<std::pair<pid_t, pid_t>> links;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = read_file(entry.path().string() + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    pid_t parent = 0;
    rest >> state >> parent;
    links.emplace_back(static_cast<pid_t>(std::stoi(name)), parent);
  }
  std::vector<pid_t> found;
  std::vector<pid_t> frontier = {pid};
  while (!frontier.empty()) {
    const pid_t current = frontier.back();
    frontier.pop_back();
    for (const auto& [child, parent] : links) {
      if (parent == current) {
        found.push_back(child);
        frontier.push_back(child);
      }
    }
  }
  return found;
}

std::vector<SseEvent> parse_sse(const std::string& raw) {
  std::vector<SseEvent> events;
  const auto body_start = raw.find("\r\n\r\n");
  std::string body = body_start == std::string::npos ? raw : raw.substr(body_start + 4);
  body.resize(body.rfind("\n\n") == std::string::npos ? 0 : body.rfind("\n\n") + 2);  // complete events only
  std::istringstream lines(body);
  SseEvent current;
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) {
      if (!current.type.empty()) events.push_back(current);
      current = {};
    } else if (line.starts_with("id: ")) {
      current.id = line.substr(4);
    } else if (line.starts_with("event: ")) {
      current.type = line.substr(7);
    } else if (line.starts_with("data: ")) {
      current.data = nlohmann::json::parse(line.substr(6));
    }
  }
  return events;
}

std::string open_stream_request(const std::string& target, const std::string& last_event_id) {
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n";
  if (!last_event_id.empty()) request += "Last-Event-ID: " + last_event_id + "\r\n";
  return request + "\r\n";
}

}  // namespace jobd::testing
