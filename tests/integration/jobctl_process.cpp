#include "jobctl_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>

#ifndef JOBCTL_BINARY
#error "JOBCTL_BINARY must name the jobctl executable under test"
#endif

namespace jobd::testing {

using nlohmann::json;

std::vector<json> JobctlOutput::json_lines() const {
  std::vector<json> lines;
  std::size_t start = 0;
  while (start < out.size()) {
    const auto end = out.find('\n', start);
    lines.push_back(json::parse(out.substr(start, end - start)));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

std::vector<std::string> JobctlOutput::out_lines() const {
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::ostream& operator<<(std::ostream& os, const JobctlOutput& run) {
  return os << "exit " << run.code << "\n--- stdout ---\n" << run.out << "--- stderr ---\n" << run.err;
}

JobctlProcess::JobctlProcess(std::uint16_t port, std::vector<std::string> args,
                             std::vector<std::string> env) {
  std::vector<std::string> argv_strings = {JOBCTL_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_strings.size() + 1);
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  env.emplace_back("PATH=/usr/bin:/bin");
  if (port != 0) env.push_back("JOBD_URL=http://127.0.0.1:" + std::to_string(port));
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw std::runtime_error("pipe");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  const int spawned = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  if (spawned != 0) {
    ::close(out_fd_);
    ::close(err_fd_);
    throw std::runtime_error("posix_spawn jobctl failed");
  }
}

JobctlProcess::~JobctlProcess() {
  for (const int fd : {out_fd_, err_fd_}) {
    if (fd >= 0) ::close(fd);
  }
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool JobctlProcess::read_some(std::chrono::steady_clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  int* const owned[2] = {&out_fd_, &err_fd_};
  std::string* const sinks[2] = {&output_.out, &output_.err};
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};  // poll() skips negative fds
  if (::poll(fds, 2, static_cast<int>(left.count())) <= 0) return true;
  for (int i = 0; i < 2; ++i) {
    if (fds[i].fd < 0 || fds[i].revents == 0) continue;
    char buffer[65536];
    const auto n = ::read(fds[i].fd, buffer, sizeof buffer);
    if (n <= 0) {
      ::close(fds[i].fd);
      *owned[i] = -1;
      continue;
    }
    sinks[i]->append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

bool JobctlProcess::wait_for_line(const std::function<bool(std::string_view)>& accept,
                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t checked = 0;  // output_.out before this offset holds only rejected lines
  for (;;) {
    for (auto end = output_.out.find('\n', checked); end != std::string::npos;
         end = output_.out.find('\n', checked)) {
      const std::string_view line = std::string_view(output_.out).substr(checked, end - checked);
      checked = end + 1;
      if (accept(line)) return true;
    }
    if (out_fd_ < 0 || !read_some(deadline)) return false;
  }
}

JobctlOutput JobctlProcess::finish(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool killed = false;
  while (open()) {
    if (!read_some(deadline)) {
      ::kill(pid_, SIGKILL);
      killed = true;
      break;
    }
  }
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  output_.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (killed) output_.err += "\n[test: jobctl killed after the timeout]";
  return output_;
}

JobctlOutput jobctl(std::uint16_t port, std::vector<std::string> args, std::vector<std::string> env,
                    std::chrono::milliseconds timeout) {
  return JobctlProcess(port, std::move(args), std::move(env)).finish(timeout);
}

std::vector<json> server_jobs(std::uint16_t port, const std::string& kind) {
  std::vector<json> jobs;
  std::string target = "/v1/jobs?limit=1000&kind=" + kind;
  for (;;) {
    auto page = get(port, target);
    if (page.status != 200) throw std::runtime_error("GET /v1/jobs: " + page.body);
    const json body = page.json();
    for (const auto& job : body.at("jobs")) jobs.push_back(job);
    if (!body.at("next_cursor").is_string()) break;
    target = "/v1/jobs?limit=1000&kind=" + kind + "&cursor=" + body.at("next_cursor").get<std::string>();
  }
  return jobs;
}

bool one_line(const std::string& text) { return !text.empty() && text.find('\n') == text.size() - 1; }

}  // namespace jobd::testing
