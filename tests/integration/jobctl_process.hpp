// jobctl as the integration tests run it: a child process (posix_spawn) with JOBD_URL in a minimal
// environment, as a user or a script would run it. Either run to its end (jobctl()), or started
// and read while it runs (JobctlProcess), for `watch` tests that must know when jobctl's event
// stream is open before the job they watch produces anything.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

namespace jobd::testing {

// What one jobctl run printed, and how it ended.
struct JobctlOutput {
  int code = -1;  // exit code; 128 + signal when killed
  std::string out;
  std::string err;
  nlohmann::json json_out() const { return nlohmann::json::parse(out); }
  // stdout as one JSON document per line (watch --json).
  std::vector<nlohmann::json> json_lines() const;
  std::vector<std::string> out_lines() const;
};

std::ostream& operator<<(std::ostream& os, const JobctlOutput& run);

// jobctl started in the background. The destructor kills it if it still runs.
class JobctlProcess {
 public:
  // `port` 0: no JOBD_URL (the args say where). `env`: "NAME=value" entries added.
  JobctlProcess(std::uint16_t port, std::vector<std::string> args, std::vector<std::string> env = {});
  ~JobctlProcess();
  JobctlProcess(const JobctlProcess&) = delete;
  JobctlProcess& operator=(const JobctlProcess&) = delete;

  // Reads until a complete stdout line satisfies `accept` (true), or jobctl closes its output or
  // `timeout` passes (false). Lines read stay in the output that finish() returns.
  bool wait_for_line(const std::function<bool(std::string_view)>& accept, std::chrono::milliseconds timeout);
  // Reads to the end and reaps jobctl; kills it first if it runs past `timeout`.
  JobctlOutput finish(std::chrono::milliseconds timeout = 60s);

 private:
  // One poll() round over the open pipes, appending what arrived; false once `deadline` passed.
  bool read_some(std::chrono::steady_clock::time_point deadline);
  bool open() const { return out_fd_ >= 0 || err_fd_ >= 0; }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  JobctlOutput output_;
};

// Runs jobctl with `args` to its end; kills it after `timeout`.
JobctlOutput jobctl(std::uint16_t port, std::vector<std::string> args, std::vector<std::string> env = {},
                    std::chrono::milliseconds timeout = 60s);

// Every job of `kind` the server lists, across pages (independent of jobctl).
std::vector<nlohmann::json> server_jobs(std::uint16_t port, const std::string& kind);

// Exactly one line, newline-terminated: what jobctl's errors must be.
bool one_line(const std::string& text);

}  // namespace jobd::testing
