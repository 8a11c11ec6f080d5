#include "exec/subprocess_executor.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "exec/command_config.hpp"
#include "kinds/kind.hpp"

namespace jobd::exec {

namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// One read from a child's pipe (a pipe holds 64 KiB by default; 16 KiB reads keep the
// coroutine frame small while 200 jobs run, and are few enough for 50 MB of discarded output).
constexpr std::size_t kReadChunk = 16 * 1024;
// glibc 2.36 has no P_PIDFD in idtype_t yet; the kernel's value (linux/wait.h) is 3.
constexpr idtype_t kIdPidfd = static_cast<idtype_t>(3);

std::string errno_text(int error) { return std::strerror(error); }

// glibc 2.36's <sys/pidfd.h> lacks extern "C" (a C++ link fails), so the raw syscall.
int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::string signal_name(int signo) {
  const char* abbrev = ::sigabbrev_np(signo);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(signo);
}

// waitid(P_PIDFD) through the raw syscall, which also returns the child's resource usage
// (glibc's wrapper drops it): CPU time feeds the job record.
int reap_pidfd(int pidfd, siginfo_t& info, rusage& usage, int flags) {
  info = siginfo_t{};
  return static_cast<int>(::syscall(SYS_waitid, kIdPidfd, pidfd, &info, WEXITED | flags, &usage));
}

// Closes a descriptor that Asio watches, removing it from epoll first.
//
// Why not stream_descriptor::close(): Asio then skips EPOLL_CTL_DEL, trusting close() to drop
// the registration. It does not while another process holds the same open file, and the
// child of a concurrent spawn (on a spawner thread) holds every fd of jobd until its
// exec. The stale registration then reports events with a pointer to Asio's per-descriptor
// state, which Asio recycles for the next descriptor: another job's pidfd would see a wake-up
// that is not its own. release() deregisters explicitly.
void close_watched(asio::posix::stream_descriptor& descriptor) {
  if (!descriptor.is_open()) return;
  ::close(descriptor.release());
}

struct UniqueFd {
  int fd = -1;
  UniqueFd() = default;
  explicit UniqueFd(int value) : fd(value) {}
  UniqueFd(UniqueFd&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd = std::exchange(other.fd, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int release() { return std::exchange(fd, -1); }
};

// What a spawner thread needs: copies and pointers to immutable data only.
struct LaunchRequest {
  const CommandSpec* command = nullptr;  // lives in the kind registry, which outlives jobs
  std::vector<std::string> argv;
  bool stdin_pipe = false;
};

// A started child in transit from a spawner thread to the loop. If it never arrives (jobd
// stops meanwhile), its destructor kills the group and reaps it: nothing leaks.
struct Launched {
  pid_t pid = -1;
  UniqueFd pidfd, stdin_w, stdout_r, stderr_r;
  std::string temp_dir;  // to remove after the job; empty with a fixed workdir
  std::string error;     // set when the child could not be started

  Launched() = default;
  Launched(Launched&& other) noexcept
      : pid(std::exchange(other.pid, -1)),
        pidfd(std::move(other.pidfd)),
        stdin_w(std::move(other.stdin_w)),
        stdout_r(std::move(other.stdout_r)),
        stderr_r(std::move(other.stderr_r)),
        temp_dir(std::exchange(other.temp_dir, {})),
        error(std::move(other.error)) {}
  Launched& operator=(Launched&&) = delete;
  ~Launched() {
    if (pid > 0 && pidfd.fd >= 0) {
      ::kill(-pid, SIGKILL);
      siginfo_t info;
      rusage usage;
      reap_pidfd(pidfd.fd, info, usage, 0);
    }
    if (!temp_dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(temp_dir, ignored);
    }
  }
};

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

// Starts the child with vfork + exec. Not posix_spawn: it cannot set resource limits, and
// prlimit(2) after it returns is a race the child wins on a busy machine (measured: 2 runs in
// 8 of a short script saw jobd's limits), letting processes it forks at once escape them.
// vfork is what glibc's posix_spawn uses too: the child borrows jobd's memory, this thread
// waits until the child exec'd, and the child makes system calls only; all signals are
// blocked meanwhile so that no jobd handler runs in it. Returns the pid, or -errno.
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

// Runs on a spawner thread: working directory, pipes, the child, its pidfd.
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
  UniqueFd in_r(in[0]);
  out.stdin_w = UniqueFd(in[1]);
  if (::pipe2(outp, O_CLOEXEC) != 0) return fail("pipe", errno);
  out.stdout_r = UniqueFd(outp[0]);
  UniqueFd out_w(outp[1]);
  if (::pipe2(errp, O_CLOEXEC) != 0) return fail("pipe", errno);
  out.stderr_r = UniqueFd(errp[0]);
  UniqueFd err_w(errp[1]);

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
  plan.stdin_fd = in_r.fd;
  plan.stdout_fd = out_w.fd;
  plan.stderr_fd = err_w.fd;
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
  out.pidfd = UniqueFd(open_pidfd(pid));
  if (out.pidfd.fd < 0) {
    const int error = errno;
    ::kill(-pid, SIGKILL);
    // Without a pidfd, wait for this one pid: still only our own child.
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    out.pid = -1;
    return fail("pidfd_open (Linux >= 5.3 is required)", error);
  }
  return out;
}

// One output stream as captured: the first `cap` bytes kept, the rest counted.
struct Capture {
  std::string data;
  std::size_t cap = 0;
  std::uint64_t total = 0;   // bytes the child wrote
  std::string partial_line;  // for line events: the unfinished last line
  bool truncated() const { return total > data.size(); }
};

// Length of the longest prefix that is well-formed UTF-8 (Unicode table 3-7: no overlong
// forms, no surrogates), the rule the JSON serializer enforces.
std::size_t valid_utf8_prefix(std::string_view text) {
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  while (i < text.size()) {
    const unsigned char c = at(i);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xbf;  // range of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      if (c == 0xe0) low = 0xa0;
      if (c == 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      if (c == 0xf0) low = 0x90;
      if (c == 0xf4) high = 0x8f;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    if (at(i + 1) < low || at(i + 1) > high) return i;
    for (std::size_t k = 2; k < length; ++k) {
      if ((at(i + k) & 0xc0) != 0x80) return i;
    }
    i += length;
  }
  return i;
}

// A line for the events stream: JSON text, so each byte that is not well-formed UTF-8 (binary
// output, or a character cut at kMaxOutputLineBytes) becomes U+FFFD.
std::string printable_line(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  while (!line.empty()) {
    const std::size_t valid = valid_utf8_prefix(line);
    out.append(line.substr(0, valid));
    line.remove_prefix(valid);
    if (!line.empty()) {
      out.append("\xEF\xBF\xBD");
      line.remove_prefix(1);
    }
  }
  return out;
}

// A captured stream in the job record: as text when it is UTF-8 (after dropping a character
// that the cap cut in half), else base64 under <name>_base64, since JSON strings are text.
void put_stream(nlohmann::json& details, const std::string& name, Capture& capture) {
  std::size_t valid = valid_utf8_prefix(capture.data);
  if (valid < capture.data.size() && capture.truncated() && capture.data.size() - valid < 4) {
    capture.data.resize(valid);
  }
  if (valid == capture.data.size()) {
    details[name] = std::move(capture.data);
  } else {
    details[name + "_base64"] = encode_base64(capture.data);
  }
}

}  // namespace

struct SubprocessExecutor::Child {
  Child(asio::any_io_executor loop, JobTicket job)
      : ticket(std::move(job)),
        pidfd(loop),
        stdin_pipe(loop),
        stdout_pipe(loop),
        stderr_pipe(loop),
        grace(loop),
        run_limit(loop),
        io_done(loop) {}
  ~Child() {
    // Only on paths where jobd stops with the child alive (shutdown, an escaped exception):
    // a normal end reaps first. Blocking is fine there; the group is SIGKILLed.
    if (pid > 0 && !reaped && pidfd.is_open()) {
      ::kill(-pid, SIGKILL);
      siginfo_t last_status;
      rusage last_usage;
      reap_pidfd(pidfd.native_handle(), last_status, last_usage, 0);
    }
    for (auto* descriptor : {&pidfd, &stdin_pipe, &stdout_pipe, &stderr_pipe}) close_watched(*descriptor);
    if (!temp_dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(temp_dir, ignored);
    }
  }

  JobTicket ticket;
  std::string input;
  pid_t pid = -1;
  asio::posix::stream_descriptor pidfd;  // readable once the child exited
  asio::posix::stream_descriptor stdin_pipe, stdout_pipe, stderr_pipe;
  asio::steady_timer grace;      // SIGKILL when it runs out after SIGTERM
  asio::steady_timer run_limit;  // the command's timeout_ms
  asio::steady_timer io_done;    // cancelled when the last pipe coroutine ends (an event)
  int pending_io = 0;            // pipe coroutines still running
  Capture out, err;
  std::string temp_dir;
  std::string spawn_error;
  std::optional<StopReason> stop_reason;
  bool run_limit_hit = false;
  bool reaped = false;
  bool lost = false;  // reaped by someone else: no exit status
  siginfo_t status{};
  rusage usage{};
  std::chrono::steady_clock::time_point spawned_at;
  std::chrono::steady_clock::time_point exited_at;
};

SubprocessExecutor::SubprocessExecutor(asio::any_io_executor loop, JobSink& sink, SubprocessOptions options)
    : loop_(std::move(loop)), sink_(sink), options_(options) {}

SubprocessExecutor::~SubprocessExecutor() { shutdown(); }

bool SubprocessExecutor::has_room() const {
  return !shut_down_ && (running_.size() < options_.max_running || queued_.size() < options_.queue_depth);
}

ExecutorStats SubprocessExecutor::stats() const {
  return {queued_.size(), running_.size(), options_.max_running + options_.queue_depth, options_.max_running};
}

void SubprocessExecutor::submit(JobTicket ticket) {
  if (shut_down_) {
    sink_.on_finished(ticket.seq, stopped_outcome(StopReason::shutdown));
    return;
  }
  if (running_.size() < options_.max_running) {
    start(std::move(ticket));
  } else {
    queued_.push_back(std::move(ticket));
  }
}

void SubprocessExecutor::start_queued() {
  while (!shut_down_ && running_.size() < options_.max_running && !queued_.empty()) {
    JobTicket next = std::move(queued_.front());
    queued_.pop_front();
    start(std::move(next));
  }
}

void SubprocessExecutor::start(JobTicket ticket) {
  const JobSeq seq = ticket.seq;
  auto [it, inserted] = running_.emplace(seq, std::make_unique<Child>(loop_, std::move(ticket)));
  Child& child = *it->second;
  asio::co_spawn(loop_, supervise(child), [this, seq](std::exception_ptr error) { complete(seq, error); });
}

asio::awaitable<void> SubprocessExecutor::supervise(Child& child) {
  const CommandSpec& command = *child.ticket.kind->command;
  LaunchRequest request{&command, build_argv(command, child.ticket.params), command.stdin_input};
  child.input = build_stdin(command, child.ticket.params);
  // vfork waits for the child's exec: off the loop, on a spawner thread.
  Launched launched = co_await asio::co_spawn(
      spawner_, [&request]() -> asio::awaitable<Launched> { co_return launch(request); },
      asio::use_awaitable);
  child.temp_dir = std::exchange(launched.temp_dir, {});
  if (!launched.error.empty()) {
    child.spawn_error = std::move(launched.error);
    co_return;
  }
  child.pid = std::exchange(launched.pid, -1);
  child.spawned_at = std::chrono::steady_clock::now();
  child.pidfd.assign(launched.pidfd.release());
  child.stdout_pipe.assign(launched.stdout_r.release());
  child.stderr_pipe.assign(launched.stderr_r.release());
  if (launched.stdin_w.fd >= 0) child.stdin_pipe.assign(launched.stdin_w.release());
  sink_.on_started(child.ticket.seq, {{"pid", child.pid}});
  if (child.stop_reason) terminate(child);  // stopped while it was being spawned
  if (command.timeout.count() > 0) {
    child.run_limit.expires_after(command.timeout);
    child.run_limit.async_wait([this, seq = child.ticket.seq](boost::system::error_code error) {
      if (error) return;
      auto it = running_.find(seq);
      if (it == running_.end() || it->second->stop_reason || it->second->reaped) return;
      it->second->run_limit_hit = true;
      it->second->stop_reason = StopReason::timed_out;
      terminate(*it->second);
    });
  }

  // The pipes are served by their own coroutines, so that output keeps flowing (and the child
  // never blocks on a full pipe) while this one waits for the exit.
  child.io_done.expires_at(asio::steady_timer::time_point::max());
  const auto count_done = [this, &child](std::exception_ptr) { io_finished(child); };
  child.pending_io = child.stdin_pipe.is_open() ? 3 : 2;
  asio::co_spawn(loop_, read_output(child, true), count_done);
  asio::co_spawn(loop_, read_output(child, false), count_done);
  if (child.stdin_pipe.is_open()) asio::co_spawn(loop_, write_input(child), count_done);

  // Readable pidfd = the child exited. A wake-up is only a hint, though (epoll can report a
  // stale registration, see close_watched): peek with WNOWAIT, and wait again if it still runs.
  bool exited = false;
  bool still_ours = true;  // false once waitid says it is not our child to wait for
  for (;;) {
    auto [error] = co_await child.pidfd.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    siginfo_t peek{};
    rusage ignored{};
    const int found = reap_pidfd(child.pidfd.native_handle(), peek, ignored, WNOHANG | WNOWAIT);
    if (found == 0 && peek.si_pid != 0) {
      exited = true;
      break;
    }
    if (found != 0 || error) {
      // ECHILD: someone reaped it against the rules, so it is not ours any more. Never a
      // blocking wait on the loop; never a signal to a group we may no longer own.
      still_ours = found == 0;
      spdlog::error("subprocess {}: cannot wait for it: {}", child.pid,
                    found != 0 ? errno_text(errno) : error.message());
      break;
    }
  }
  child.exited_at = std::chrono::steady_clock::now();
  if (exited) {
    // The leader is a zombie until reaped, so its pid still names the group and cannot be
    // reused: SIGKILL to the group reaches exactly what the job left behind (background
    // grandchildren), and nothing else.
    ::kill(-child.pid, SIGKILL);
    reap_pidfd(child.pidfd.native_handle(), child.status, child.usage, WNOHANG);
    child.reaped = true;
  } else if (still_ours) {
    ::kill(-child.pid, SIGKILL);  // not reaped, so the group is still ours; ~Child reaps it
  } else {
    child.reaped = true;  // nothing left to reap; the job fails as "lost track"
    child.lost = true;
  }
  child.grace.cancel();
  child.run_limit.cancel();

  // The rest of the output is still in the pipes: read it to EOF. A grandchild that left the
  // group (setsid) may hold a pipe open for ever: after the grace, stop listening to it.
  child.io_done.expires_after(options_.kill_grace);
  while (child.pending_io > 0) {
    auto [error] = co_await child.io_done.async_wait(use_tuple);
    if (!error) {
      close_watched(child.stdin_pipe);
      close_watched(child.stdout_pipe);
      close_watched(child.stderr_pipe);
      child.io_done.expires_at(asio::steady_timer::time_point::max());
    }
  }
}

void SubprocessExecutor::io_finished(Child& child) {
  if (--child.pending_io == 0) child.io_done.cancel();
}

asio::awaitable<void> SubprocessExecutor::read_output(Child& child, bool is_stdout) {
  auto& pipe = is_stdout ? child.stdout_pipe : child.stderr_pipe;
  Capture& capture = is_stdout ? child.out : child.err;
  const CommandSpec& command = *child.ticket.kind->command;
  capture.cap = is_stdout ? command.max_stdout_bytes : command.max_stderr_bytes;
  std::array<char, kReadChunk> chunk;
  for (;;) {
    auto [error, n] = co_await pipe.async_read_some(asio::buffer(chunk), use_tuple);
    if (n > 0) {
      capture.total += n;
      // Beyond the cap the bytes are read and dropped: the child must never block on a full pipe.
      const std::size_t keep = std::min(n, capture.cap - std::min(capture.cap, capture.data.size()));
      if (keep > 0) {
        capture.data.append(chunk.data(), keep);
        publish_lines(child, is_stdout, {chunk.data(), keep}, false);
      }
    }
    if (error) break;  // EOF, or closed by supervise() after the grace
  }
  publish_lines(child, is_stdout, {}, true);
  close_watched(pipe);
}

asio::awaitable<void> SubprocessExecutor::write_input(Child& child) {
  if (!child.input.empty()) {
    // A child that exits without reading it all makes this fail with EPIPE (SIGPIPE is ignored
    // in jobd): the job's outcome is its exit status, not this write.
    co_await asio::async_write(child.stdin_pipe, asio::buffer(child.input), use_tuple);
  }
  // EOF on the child's stdin.
  close_watched(child.stdin_pipe);
  std::string().swap(child.input);
}

void SubprocessExecutor::publish_lines(Child& child, bool is_stdout, std::string_view bytes, bool at_eof) {
  // Published whether or not someone listens now: the job's event history lets a watcher that
  // comes later (jobctl watch after submit) replay them. It is bounded by the table.
  const OutputStream stream = is_stdout ? OutputStream::stdout_stream : OutputStream::stderr_stream;
  std::string& partial = (is_stdout ? child.out : child.err).partial_line;
  const JobSeq seq = child.ticket.seq;
  const auto emit = [&](std::string_view line) {
    if (valid_utf8_prefix(line) == line.size()) {
      sink_.on_output(seq, stream, line);
    } else {
      sink_.on_output(seq, stream, printable_line(line));
    }
  };
  while (!bytes.empty()) {
    const auto newline = bytes.find('\n');
    const auto piece = bytes.substr(0, newline);
    if (newline != std::string_view::npos && partial.empty() && piece.size() <= kMaxOutputLineBytes) {
      emit(piece);  // the common case: a whole line, no copy
      bytes.remove_prefix(newline + 1);
      continue;
    }
    const std::size_t room = kMaxOutputLineBytes - partial.size();
    const std::size_t take = std::min(piece.size(), room);
    partial.append(piece.substr(0, take));
    bytes.remove_prefix(take);
    const bool line_ended = take == piece.size() && newline != std::string_view::npos;
    if (line_ended) bytes.remove_prefix(1);
    if (line_ended || partial.size() == kMaxOutputLineBytes) {
      emit(partial);
      partial.clear();
    }
  }
  if (at_eof && !partial.empty()) {
    emit(partial);
    partial.clear();
  }
}

void SubprocessExecutor::terminate(Child& child) {
  if (child.pid <= 0 || child.reaped) return;  // not spawned yet: supervise() calls again
  ::kill(-child.pid, SIGTERM);
  child.grace.expires_after(options_.kill_grace);
  child.grace.async_wait([this, seq = child.ticket.seq](boost::system::error_code error) {
    if (error) return;
    auto it = running_.find(seq);
    // Not reaped yet: the leader's pid still names the group (see supervise()).
    if (it != running_.end() && !it->second->reaped) ::kill(-it->second->pid, SIGKILL);
  });
}

void SubprocessExecutor::stop(JobSeq seq, StopReason reason) {
  for (auto it = queued_.begin(); it != queued_.end(); ++it) {
    if (it->seq == seq) {
      queued_.erase(it);
      sink_.on_finished(seq, stopped_outcome(reason));
      return;
    }
  }
  auto it = running_.find(seq);
  // Once reaped, the job's outcome is its exit status: it finishes as soon as its pipes drained.
  if (it == running_.end() || it->second->stop_reason || it->second->reaped) return;
  // The job stays running until its process group is gone; complete() reports it then.
  it->second->stop_reason = reason;
  terminate(*it->second);
}

void SubprocessExecutor::complete(JobSeq seq, std::exception_ptr error) {
  auto node = running_.extract(seq);
  if (node.empty()) return;
  Child& child = *node.mapped();
  Outcome outcome;
  nlohmann::json& details = outcome.details;
  if (child.pid > 0) details["pid"] = child.pid;
  if (child.reaped && !child.lost) {
    const auto run_time = child.exited_at - child.spawned_at;
    details["duration_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(run_time).count();
    const auto cpu_us = [](const timeval& tv) { return tv.tv_sec * 1'000'000LL + tv.tv_usec; };
    // CPU time of the child and its reaped descendants (the `auto` executor will want it). Not
    // ru_maxrss: before its exec the child ran in jobd's memory (vfork), so that is jobd's size.
    details["cpu_ms"] = (cpu_us(child.usage.ru_utime) + cpu_us(child.usage.ru_stime)) / 1000;
    if (child.status.si_code == CLD_EXITED) {
      details["exit_code"] = child.status.si_status;
    } else {
      details["signal"] = signal_name(child.status.si_status);
    }
    details["truncated"] = {{"stdout", child.out.truncated()}, {"stderr", child.err.truncated()}};
    put_stream(details, "stdout", child.out);
    put_stream(details, "stderr", child.err);
  }

  if (child.stop_reason) {
    Outcome stopped = stopped_outcome(*child.stop_reason);
    outcome.state = stopped.state;
    outcome.error_type = std::move(stopped.error_type);
    outcome.error_message = std::move(stopped.error_message);
    if (child.run_limit_hit) {
      outcome.error_message = "run time limit of " +
                              std::to_string(child.ticket.kind->command->timeout.count()) +
                              " ms exceeded (the command's timeout_ms)";
    }
  } else if (error) {
    const Outcome failed = proto::outcome_from_exception(error);
    outcome.state = failed.state;
    outcome.error_type = failed.error_type;
    outcome.error_message = failed.error_message;
    spdlog::error("subprocess job {}: {}", child.ticket.job_id, outcome.error_message);
  } else if (!child.spawn_error.empty()) {
    outcome.state = proto::JobState::failed;
    outcome.error_type = proto::job_error::spawn_failed;
    outcome.error_message = std::move(child.spawn_error);
  } else if (!child.reaped || child.lost) {
    outcome.state = proto::JobState::failed;
    outcome.error_type = proto::job_error::internal;
    outcome.error_message = "lost track of the child process (see jobd's log)";
  } else if (child.status.si_code == CLD_EXITED && child.status.si_status == 0) {
    outcome.result = {{"exit_code", 0}};
  } else {
    outcome.state = proto::JobState::failed;
    outcome.error_type = proto::job_error::exit_status;
    outcome.error_message = child.status.si_code == CLD_EXITED
                                ? "exited with code " + std::to_string(child.status.si_status)
                                : "killed by " + signal_name(child.status.si_status);
  }
  // The directory tree may be large: removed on a spawner thread, not here.
  if (!child.temp_dir.empty()) {
    asio::post(spawner_, [dir = std::exchange(child.temp_dir, {})] {
      // Most jobs leave their directory empty: one rmdir, not remove_all's walk.
      if (::rmdir(dir.c_str()) == 0) return;
      std::error_code failed;
      std::filesystem::remove_all(dir, failed);
      if (failed) spdlog::warn("cannot remove job directory {}: {}", dir, failed.message());
    });
  }
  // An escaped exception may leave the child running: the destructor below kills and reaps it,
  // blocking briefly, on a path that should never be taken.
  node.mapped().reset();
  sink_.on_finished(seq, std::move(outcome));
  start_queued();
}

void SubprocessExecutor::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // The loop has stopped: nothing will finish these jobs any more. SIGKILL every group first,
  // then reap (the Child destructors), so they die in parallel.
  for (auto& [seq, child] : running_) {
    if (child->pid > 0 && !child->reaped) ::kill(-child->pid, SIGKILL);
  }
  running_.clear();
  queued_.clear();
  // Finishes pending spawns (their results are destroyed with the loop's handlers, which kills
  // and reaps them) and the removal of finished jobs' directories.
  spawner_.join();
}

}  // namespace jobd::exec
