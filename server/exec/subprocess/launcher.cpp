#include "exec/subprocess/launcher.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "exec/posix/child_process.hpp"

namespace jobd::exec {

namespace {

std::string errno_text(int error) { return std::strerror(error); }

// Everything the child does between vfork and exec, prepared by the parent beforehand: the
// child shares jobd's memory and may only make system calls (no allocation, no lock).
struct ChildPlan {
  const char* program = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int stdin_fd = -1;  // -1: /dev/null
  int stdout_fd = -1;
  int stderr_fd = -1;
  const char* workdir = nullptr;
  pid_t parent = 0;  // jobd's pid
  struct Limit {
    int resource;
    rlimit value;
  };
  std::array<Limit, 5> limits{};
  std::size_t limit_count = 0;
};

// Moves `from` to `to` (0, 1 or 2) without close-on-exec.
int place_fd(int from, int to) {
  if (from == to) return ::fcntl(to, F_SETFD, 0);
  return ::dup2(from, to) < 0 ? -1 : 0;
}

[[noreturn]] void child_failed(volatile int* error_out) noexcept {
  *error_out = errno != 0 ? errno : EINVAL;
  ::_exit(127);
}

// Runs in the vfork child; never returns. On failure it stores errno where the parent (which
// the kernel keeps suspended until this exec's or exits) reads it.
[[noreturn]] void exec_child(const ChildPlan& plan, volatile int* error_out) noexcept {
  auto fail = [error_out] { child_failed(error_out); };
  // Default dispositions first (jobd ignores SIGPIPE and Asio handles SIGTERM; its handlers
  // must never run here), while every signal is still blocked (the parent blocked them).
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int signo = 1; signo < NSIG; ++signo) {
    if (signo != SIGKILL && signo != SIGSTOP)
      ::sigaction(signo, &default_action, nullptr);  // glibc's own fail: fine
  }
  // Own process group (pgid = pid), so that one kill(-pid) reaches grandchildren too.
  if (::setpgid(0, 0) != 0) fail();
  // If jobd dies without stopping it (SIGKILL, a crash), the child dies too rather than run on
  // unsupervised. (Tied to the spawner thread, which lives until the executor's shutdown has
  // killed every child anyway.) Grandchildren are not covered.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail();
  if (::getppid() != plan.parent) ::_exit(127);  // jobd died before prctl
  int in = plan.stdin_fd;
  if (in < 0 && (in = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) fail();
  if (place_fd(in, 0) != 0 || place_fd(plan.stdout_fd, 1) != 0 || place_fd(plan.stderr_fd, 2) != 0) fail();
  if (::chdir(plan.workdir) != 0) fail();
  // Only fds 0-2 go to the program (Asio's sockets are not all close-on-exec).
  if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
    for (int fd = 3; fd < 65536; ++fd) ::close(fd);  // kernels before 5.9
  }
  // The limits are in force before the program's first instruction: nothing it starts escapes them.
  for (std::size_t i = 0; i < plan.limit_count; ++i) {
    if (::setrlimit(static_cast<__rlimit_resource>(plan.limits[i].resource), &plan.limits[i].value) != 0)
      fail();
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // execve, not execvp: the program is an absolute path, PATH is never searched.
  ::execve(plan.program, plan.argv, plan.envp);
  child_failed(error_out);
}

// Starts the child with vfork + exec (the header says why not posix_spawn): the child borrows
// jobd's memory, this thread waits until the child exec'd, and the child makes system calls
// only; all signals are blocked meanwhile so that no jobd handler runs in it. Returns the pid,
// or -errno.
pid_t spawn_child(const ChildPlan& plan) {
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  volatile int child_error = 0;
  const pid_t pid = ::vfork();
  if (pid == 0) exec_child(plan, &child_error);
  const int vfork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return -vfork_error;
  if (child_error != 0) {
    // It exited with 127 before exec: reap this one pid (our own child, never waitpid(-1)).
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return -child_error;
  }
  return pid;
}

}  // namespace

Launched::Launched(Launched&& other) noexcept
    : pid(std::exchange(other.pid, -1)),
      pidfd(std::move(other.pidfd)),
      stdin_w(std::move(other.stdin_w)),
      stdout_r(std::move(other.stdout_r)),
      stderr_r(std::move(other.stderr_r)),
      temp_dir(std::exchange(other.temp_dir, {})),
      error(std::move(other.error)) {}

Launched::~Launched() {
  if (pid > 0 && pidfd.valid()) posix::kill_and_reap(pid, pidfd.get());
  if (!temp_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir, ignored);
  }
}

Launched launch(const LaunchRequest& request) {
  Launched out;
  const CommandSpec& command = *request.command;
  auto fail = [&](const std::string& what, int error) {
    out.error = what + ": " + errno_text(error);
    return std::move(out);
  };

  std::string workdir = command.workdir;
  if (workdir.empty()) {
    std::error_code error;
    std::string pattern = (std::filesystem::temp_directory_path(error) / "jobd-job-XXXXXX").string();
    if (error) pattern = "/tmp/jobd-job-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) return fail("cannot create a working directory", errno);
    out.temp_dir = workdir = pattern;
  }

  // Every pipe is close-on-exec, so only this child gets its ends (as fds 0-2) and no other
  // process jobd starts meanwhile holds them open.
  int in[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1};
  if (request.stdin_pipe && ::pipe2(in, O_CLOEXEC) != 0) return fail("pipe", errno);
  posix::UniqueFd in_r(in[0]);
  out.stdin_w = posix::UniqueFd(in[1]);
  if (::pipe2(outp, O_CLOEXEC) != 0) return fail("pipe", errno);
  out.stdout_r = posix::UniqueFd(outp[0]);
  posix::UniqueFd out_w(outp[1]);
  if (::pipe2(errp, O_CLOEXEC) != 0) return fail("pipe", errno);
  out.stderr_r = posix::UniqueFd(errp[0]);
  posix::UniqueFd err_w(errp[1]);

  std::vector<char*> argv;
  argv.reserve(request.argv.size() + 1);
  for (const auto& arg : request.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(command.env.size() + 1);
  for (const auto& entry : command.env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);

  ChildPlan plan;
  plan.program = command.program.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.stdin_fd = in_r.get();
  plan.stdout_fd = out_w.get();
  plan.stderr_fd = err_w.get();
  plan.workdir = workdir.c_str();
  plan.parent = ::getpid();
  const auto& limits = command.limits;
  auto add_limit = [&plan](int resource, std::uint64_t value) {
    plan.limits[plan.limit_count++] = {resource, {static_cast<rlim_t>(value), static_cast<rlim_t>(value)}};
  };
  if (limits.cpu_seconds) add_limit(RLIMIT_CPU, *limits.cpu_seconds);
  if (limits.address_space_bytes) add_limit(RLIMIT_AS, *limits.address_space_bytes);
  if (limits.open_files) add_limit(RLIMIT_NOFILE, *limits.open_files);
  if (limits.file_size_bytes) add_limit(RLIMIT_FSIZE, *limits.file_size_bytes);
  add_limit(RLIMIT_CORE, limits.core_bytes);

  const pid_t pid = spawn_child(plan);
  if (pid < 0) {
    if (-pid == ENOENT && !command.workdir.empty() && ::access(command.workdir.c_str(), F_OK) != 0) {
      return fail("cannot enter working directory " + command.workdir, -pid);
    }
    return fail("cannot run " + command.program, -pid);
  }
  out.pid = pid;
  // The child's pid cannot be reused before it is reaped, and only this executor reaps it
  // (through this pidfd), so pidfd_open cannot name another process.
  out.pidfd = posix::UniqueFd(posix::open_pidfd(pid));
  if (!out.pidfd.valid()) {
    const int error = errno;
    posix::signal_group(pid, SIGKILL);
    // Without a pidfd, wait for this one pid: still only our own child.
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    out.pid = -1;
    return fail("pidfd_open (Linux >= 5.3 is required)", error);
  }
  return out;
}

}  // namespace jobd::exec
