// RedisServer: a real redis-server for one test, in a temporary directory, on 127.0.0.1 at a
// free port and on a unix socket, without persistence (--save '' --appendonly no) unless the
// test adds arguments. Always stopped by PID: SIGKILL in the destructor (even after a failed
// assertion), and the child dies with the test process through PR_SET_PDEATHSIG.
//
// admin() runs a command over a blocking hiredis connection of its own (test set-up and
// inspection), independent of the client under test.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "store/redis/options.hpp"
#include "store/redis/reply.hpp"

namespace jobd::testing {

class RedisServer {
 public:
  // Where redis-server is, or "" (tests skip, saying so: scripts/deps installs it).
  static std::string binary();
  static constexpr const char* kMissing = "redis-server is not installed (scripts/deps installs it): skipped";

  // Starts the server (throws std::runtime_error with its log if it does not answer in 10 s).
  explicit RedisServer(std::vector<std::string> extra_args = {}, std::string password = "");
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  void kill();     // SIGKILL and reap
  void restart();  // kill (if running) and start again on the same port and socket
  // Sends `signo` (SIGTERM: Redis writes out its AOF and exits) and reaps it, SIGKILL after 10 s.
  void stop(int signo);
  // Starts it again after kill() or stop(): same port, socket and directory (so its AOF).
  void start() { launch(); }
  void pause();   // SIGSTOP
  void resume();  // SIGCONT

  std::uint16_t port() const { return port_; }
  const std::string& socket_path() const { return socket_; }
  pid_t pid() const { return pid_; }
  std::string tcp_uri(int db = 0) const;
  std::string unix_uri(int db = 0) const;
  // Options for the client under test: TCP, short test timeouts, the given password.
  store::redis::RedisOptions options(std::string_view password = {}) const;

  store::redis::Reply admin(std::initializer_list<std::string_view> args) const;

 private:
  void launch();
  std::vector<std::string> extra_args_;
  std::string password_;
  std::string dir_;
  std::string socket_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

}  // namespace jobd::testing

// The first line of a test that needs redis-server: a skip that says why when it is missing.
#define SKIP_WITHOUT_REDIS() \
  if (::jobd::testing::RedisServer::binary().empty()) GTEST_SKIP() << ::jobd::testing::RedisServer::kMissing
