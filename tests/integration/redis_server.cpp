#include "redis_server.hpp"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <variant>

#include "store/redis/hiredis_reply.hpp"
#include "store/redis/uri.hpp"

namespace jobd::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using store::redis::Reply;

namespace {

// A port below the kernel's ephemeral range (net.ipv4.ip_local_port_range) that binds now. One
// from that range (a bind to port 0) is free only until redis-server binds it, and again while a
// test restarts redis on it: meanwhile every port-0 listener and outgoing connection of the tests
// running beside this one (ctest -j) may be given it. Below the range only a process that asks for
// the number can take it (docker/free-port.sh does the same for the container tests).
std::uint16_t free_port() {
  int low = 32768;
  if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) range >> low;
  if (low <= 11024) low = 32768;  // a range that starts low leaves no room below it
  std::random_device seed;
  std::uniform_int_distribution<int> pick(10000, low - 1);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) break;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(pick(seed)));
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    if (bound) return ntohs(address.sin_port);
  }
  throw std::runtime_error("no free port below the ephemeral range");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

std::string RedisServer::binary() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
    std::string path = std::string(dir) + "/redis-server";
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

RedisServer::RedisServer(std::vector<std::string> extra_args, std::string password)
    : extra_args_(std::move(extra_args)), password_(std::move(password)) {
  char pattern[] = "/tmp/jobd-redis-test-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  socket_ = dir_ + "/redis.sock";
  port_ = free_port();
  launch();
}

RedisServer::~RedisServer() {
  kill();
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

void RedisServer::launch() {
  std::vector<std::string> args = {binary(),
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--unixsocket",
                                   socket_,
                                   "--unixsocketperm",
                                   "700",
                                   "--dir",
                                   dir_,
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--daemonize",
                                   "no",
                                   "--logfile",
                                   dir_ + "/redis.log"};
  if (!password_.empty()) args.insert(args.end(), {"--requirepass", password_});
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test process
    if (::getppid() != parent) ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  paused_ = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start:\n" + read_file(dir_ + "/redis.log"));
    }
    redisContext* context = redisConnectUnix(socket_.c_str());
    if (context != nullptr && context->err == 0) {
      auto* reply = static_cast<redisReply*>(redisCommand(context, "PING"));
      const bool up = reply != nullptr;  // PONG, or NOAUTH under requirepass: either way it serves
      if (reply != nullptr) freeReplyObject(reply);
      redisFree(context);
      if (up) return;
    } else if (context != nullptr) {
      redisFree(context);
    }
    std::this_thread::sleep_for(10ms);
  }
  kill();
  throw std::runtime_error("redis-server did not answer in 10 s:\n" + read_file(dir_ + "/redis.log"));
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);  // works on a stopped process too
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  paused_ = false;
}

void RedisServer::restart() {
  kill();
  launch();
}

void RedisServer::stop(int signo) {
  if (pid_ <= 0) return;
  if (paused_) ::kill(pid_, SIGCONT);
  ::kill(pid_, signo);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      paused_ = false;
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
  kill();
}

void RedisServer::pause() {
  ::kill(pid_, SIGSTOP);
  paused_ = true;
}

void RedisServer::resume() {
  ::kill(pid_, SIGCONT);
  paused_ = false;
}

std::string RedisServer::tcp_uri(int db) const {
  return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
}

std::string RedisServer::unix_uri(int db) const {
  return "redis+unix://" + socket_ + "?db=" + std::to_string(db);
}

store::redis::RedisOptions RedisServer::options(std::string_view password) const {
  store::redis::RedisOptions options;
  options.endpoint = std::get<store::redis::RedisEndpoint>(store::redis::parse_redis_uri(tcp_uri()));
  options.password = store::redis::Secret(std::string(password));
  options.client_name = "jobd-test";
  options.connect_timeout = 500ms;
  options.command_timeout = 2000ms;
  options.backoff_min = 20ms;
  options.backoff_max = 200ms;
  return options;
}

Reply RedisServer::admin(std::initializer_list<std::string_view> args) const {
  std::unique_ptr<redisContext, decltype(&redisFree)> context(redisConnectUnix(socket_.c_str()), &redisFree);
  if (!context || context->err != 0) throw std::runtime_error("admin: cannot connect to " + socket_);
  if (!password_.empty()) {
    auto* auth = static_cast<redisReply*>(redisCommand(context.get(), "AUTH %s", password_.c_str()));
    if (auth != nullptr) freeReplyObject(auth);
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (std::string_view arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(context.get(), static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (raw == nullptr) throw std::runtime_error("admin: no reply");
  Reply reply = store::redis::from_hiredis(*raw);
  freeReplyObject(raw);
  return reply;
}

}  // namespace jobd::testing
