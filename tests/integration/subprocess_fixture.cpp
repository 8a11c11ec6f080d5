#include "subprocess_fixture.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace jobd::testing::subprocess {

namespace fs = std::filesystem;

Workspace::Workspace() {
  char pattern[] = "/tmp/jobd-subprocess-test-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
}

Workspace::~Workspace() {
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::string Workspace::script(const std::string& name, const std::string& body, mode_t mode) const {
  std::string file = path(name);
  std::ofstream(file) << "#!/bin/sh\n" << body << "\n";
  ::chmod(file.c_str(), mode);
  return file;
}

std::string Workspace::write_config(const json& commands) const {
  std::string file = path("commands.json");
  std::ofstream(file) << json{{"commands", commands}}.dump(2);
  return file;
}

json test_commands(const Workspace& ws) {
  const json caps = {{"max_stdout_bytes", 65536}, {"max_stderr_bytes", 4096}};
  auto command = [&](const std::string& name, const std::string& program,
                     const json& extra = json::object()) {
    json entry = {{"name", name}, {"program", program}};
    entry.update(caps);
    entry.update(extra);
    return entry;
  };
  return json::array({
      command("wc", "/usr/bin/wc",
              {{"stdin", true},
               {"params",
                {{{"name", "bytes"}, {"type", "boolean"}, {"arg", {{"flag", "-c"}}}},
                 {{"name", "lines"}, {"type", "boolean"}, {"arg", {{"flag", "-l"}}}}}}}),
      command("args", ws.script("args.sh", R"(for a in "$@"; do printf '[%s]\n' "$a"; done)"),
              {{"params",
                {{{"name", "text"}, {"type", "string"}, {"arg", {{"positional", true}}}},
                 {{"name", "name"}, {"type", "string"}, {"arg", {{"option", "--name"}}}}}}}),
      command("fail", ws.script("fail.sh", "echo partial; echo oops >&2; exit 3")),
      command("crash", ws.script("crash.sh", "kill -SEGV $$")),
      command("flood", ws.script("flood.sh", "yes 0123456789abcdef | head -c 52428800; echo done >&2")),
      command("stubborn", ws.script("stubborn.sh", "trap '' TERM\necho ready\ntouch " +
                                                       ws.path("stubborn.ready") + "\nexec sleep 60")),
      command("forker",
              ws.script("forker.sh", "sleep 60 &\necho $! > " + ws.path("grandchild.pid") + "\nwait")),
      command("leaver",
              ws.script("leaver.sh", "sleep 60 &\necho $! > " + ws.path("leftover.pid") + "\necho bye")),
      command("slow", ws.script("slow.sh", "echo started\nexec sleep 60")),
      command("env", "/usr/bin/env", {{"env", {{"FOO", "bar"}}}, {"pass_env", {"JOBD_TEST_PASSED"}}}),
      command("binary", ws.script("binary.sh", R"(printf '\377\376')")),
      command("where", ws.script("where.sh", "pwd\ntouch created")),
      command("true", "/bin/true"),
      command("sleeper", "/usr/bin/sleep",
              {{"params",
                {{{"name", "seconds"},
                  {"type", "integer"},
                  {"required", true},
                  {"minimum", 0},
                  {"arg", {{"positional", true}}}}}}}),
      command("limited", ws.script("limited.sh", "ulimit -n; ulimit -c"), {{"limits", {{"open_files", 42}}}}),
      command("runlimit", ws.script("runlimit.sh", "echo started\nexec sleep 60"), {{"timeout_ms", 300}}),
      command("talker", ws.script("talker.sh", "while [ ! -e " + ws.path("talk") +
                                                   " ]; do sleep 0.01; done\n"
                                                   "echo one\nprintf 'two\\n' >&2\nprintf 'bin\\377ary\\n'\n"
                                                   "printf 'no newline'")),
  });
}

std::vector<std::string> Fixture::with_config(const Workspace& ws, std::vector<std::string> args) {
  args.insert(args.begin(), {"--config", ws.write_config(test_commands(ws))});
  return args;
}

json run(std::uint16_t port, const std::string& kind, json params, const json& extra) {
  json body = {{"kind", kind}, {"params", std::move(params)}};
  body.update(extra);
  auto response = submit(port, body, "?wait=30");
  EXPECT_EQ(response.status, 200) << response.body;
  return response.status == 200 ? response.json() : json::object();
}

std::string submit_id(std::uint16_t port, const std::string& kind, json params, const json& extra) {
  json body = {{"kind", kind}, {"params", std::move(params)}};
  body.update(extra);
  auto response = submit(port, body);
  EXPECT_EQ(response.status, 202) << response.body;
  return response.status == 202 ? response.json()["id"].get<std::string>() : "";
}

json wait_final(std::uint16_t port, const std::string& id) {
  auto response = get(port, "/v1/jobs/" + id + "?wait=30");
  EXPECT_EQ(response.status, 200) << response.body;
  return response.status == 200 ? response.json() : json::object();
}

bool alive(pid_t pid) {
  // Gone, or a zombie waiting for whoever reaps orphans: either way it runs no more.
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return close != std::string::npos && stat.size() > close + 2 && stat[close + 2] != 'Z';
}

std::vector<pid_t> stray_children(pid_t jobd) {
  char own[4096] = {};
  const auto own_length = ::readlink(("/proc/" + std::to_string(jobd) + "/exe").c_str(), own, sizeof own - 1);
  std::vector<pid_t> stray;
  for (pid_t pid : descendants(jobd)) {
    char exe[4096] = {};
    const auto length = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), exe, sizeof exe - 1);
    const bool is_jobd = length > 0 && length == own_length && std::string_view(exe) == std::string_view(own);
    if (!is_jobd || !alive(pid)) stray.push_back(pid);
  }
  return stray;
}

pid_t read_pid(const std::string& file) {
  pid_t pid = 0;
  eventually([&] {
    std::ifstream in(file);
    return static_cast<bool>(in >> pid) && pid > 0;
  });
  return pid;
}

}  // namespace jobd::testing::subprocess
