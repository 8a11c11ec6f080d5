// The subprocess executor's integration tests share this: a workspace with the test's
// scripts and command config, a jobd started with it, and ways to run a job and to look for
// processes left behind (subprocess_executor_test, subprocess_output_test,
// subprocess_stop_test).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness.hpp"

namespace jobd::testing::subprocess {

using nlohmann::json;

// A temporary directory with the test's scripts, marker files and command config.
class Workspace {
 public:
  Workspace();
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  // Writes an executable /bin/sh script; returns its path.
  std::string script(const std::string& name, const std::string& body, mode_t mode = 0755) const;
  std::string write_config(const json& commands) const;

 private:
  std::string dir_;
};

// The test's command kinds; scripts live in the workspace.
json test_commands(const Workspace& ws);

// A jobd with the test's commands (and `args`, `env`).
struct Fixture {
  Workspace ws;
  JobdProcess server;
  explicit Fixture(std::vector<std::string> args = {}, std::vector<std::string> env = {})
      : server(with_config(ws, std::move(args)), std::move(env)) {}
  static std::vector<std::string> with_config(const Workspace& ws, std::vector<std::string> args);
  std::uint16_t port() const { return server.port(); }
};

// Submits and waits for the end (200), or returns {} after a test failure.
json run(std::uint16_t port, const std::string& kind, json params = json::object(),
         const json& extra = json::object());
// Submits without waiting (202); the job's id.
std::string submit_id(std::uint16_t port, const std::string& kind, json params = json::object(),
                      const json& extra = json::object());
json wait_final(std::uint16_t port, const std::string& id);
// Running (not gone, not a zombie).
bool alive(pid_t pid);
// jobd's children that are not jobd itself (its process workers are), plus any zombie.
std::vector<pid_t> stray_children(pid_t jobd);
// The pid a script wrote to `file`, once it is there.
pid_t read_pid(const std::string& file);

}  // namespace jobd::testing::subprocess
