#include "exec/process/fork_server.hpp"

#include <fcntl.h>
#include <linux/sched.h>  // struct clone_args, CLONE_PIDFD
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <system_error>

#include "exec/posix/child_process.hpp"
#include "exec/process/worker_main.hpp"
#include "exec/sanitizer.hpp"
#include "kinds/kind.hpp"

namespace jobd::exec {

// AddressSanitizer reserves terabytes of address space for its shadow memory, so RLIMIT_AS
// cannot bound a worker of a sanitizer build (it could not even start): such builds, for
// testing only, leave --worker-memory unenforced (and jobd logs so at start): kAddressSanitizer.

namespace {
// The control protocol: SOCK_SEQPACKET, one fixed-size message each way per worker.
struct Request {
  std::uint64_t token;
};
struct Answer {
  std::uint64_t token;
  std::int32_t pid;
  std::int32_t error;  // errno of a failed fork; 0 = the three descriptors follow
};
constexpr int kAnswerFds = 3;  // frame socket, output pipe, pidfd

// How long stop() lets the server exit on its own before it SIGKILLs it.
constexpr int kStopGraceMs = 1000;
// The descriptor the worker finds its frame socket on.
constexpr int kWorkerSocketFd = 3;
// Where the worker parks descriptors while it lays out 0..3 (above anything in that range).
constexpr int kParkingFd = 10;

void close_fd(int fd) {
  if (fd >= 0) ::close(fd);
}

// ---- in the worker (a child of jobd, forked by the server) ---------------------------------

[[noreturn]] void become_worker(int socket, int output, const ForkServerOptions& options,
                                const kinds::KindRegistry& kinds, pid_t jobd) {
  // Its own process group first: jobd kills the group, so nothing this worker starts can
  // outlive a kill (no orphans after a timeout).
  ::setpgid(0, 0);
  // Dies with jobd, even when jobd is SIGKILLed; the check closes the race with an exit that
  // happened before prctl.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != jobd) ::_exit(111);
  // stdin from /dev/null, stdout and stderr into the pipe that jobd logs, the frame socket on
  // kWorkerSocketFd, nothing else (the server's control socket above all).
  const int parked_socket = ::fcntl(socket, F_DUPFD, kParkingFd);
  const int parked_output = ::fcntl(output, F_DUPFD, kParkingFd);
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (parked_socket < 0 || parked_output < 0 || null_fd < 0 || ::dup2(null_fd, 0) < 0 ||
      ::dup2(parked_output, 1) < 0 || ::dup2(parked_output, 2) < 0 ||
      ::dup2(parked_socket, kWorkerSocketFd) < 0) {
    ::_exit(112);
  }
  ::close_range(kWorkerSocketFd + 1, ~0U, 0);
  // A vanished jobd shows as EPIPE on write, not as a silent death by SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  const rlimit files{options.limits.open_files, options.limits.open_files};
  const rlimit memory{options.limits.memory_bytes, options.limits.memory_bytes};
  if (::setrlimit(RLIMIT_NOFILE, &files) != 0 ||
      (!kAddressSanitizer && ::setrlimit(RLIMIT_AS, &memory) != 0)) {
    std::fprintf(stderr, "worker: setrlimit: %s\n", std::strerror(errno));
    ::_exit(113);
  }
  if (options.sched_policy != SCHED_OTHER) {
    // Lowering one's own policy needs no privilege; a refusal leaves the worker as it was.
    const sched_param param{};
    if (::sched_setscheduler(0, options.sched_policy, &param) != 0)
      std::fprintf(stderr, "worker: scheduling policy %d refused: %s\n", options.sched_policy,
                   std::strerror(errno));
  }
  // Nothing may unwind out of here: below this frame is the fork server's, and below that
  // jobd's main().
  int code = 114;
  try {
    code = run_worker(kWorkerSocketFd, kinds, options.limits.cpu_seconds, options.yield_every);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worker: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "worker: unknown exception\n");
  }
  std::fflush(nullptr);
  ::_exit(code);
}

// ---- in the fork server --------------------------------------------------------------------

void answer(int control, const Answer& message, const int* fds) {
  iovec iov{const_cast<Answer*>(&message), sizeof message};
  msghdr header{};
  header.msg_iov = &iov;
  header.msg_iovlen = 1;
  alignas(cmsghdr) char space[CMSG_SPACE(sizeof(int) * kAnswerFds)] = {};
  if (fds != nullptr) {
    header.msg_control = space;
    header.msg_controllen = sizeof space;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&header);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * kAnswerFds);
    std::memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * kAnswerFds);
  }
  while (::sendmsg(control, &header, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

// A forked worker, or why there is none; its descriptors are this server's until handed over.
struct Forked {
  pid_t pid = -1;
  int error = 0;
  int fds[kAnswerFds] = {-1, -1, -1};  // frame socket, output pipe, pidfd: jobd's ends
};

Forked fork_worker(int control, const ForkServerOptions& options, const kinds::KindRegistry& kinds,
                   pid_t jobd) {
  Forked forked;
  int channel[2] = {-1, -1};
  int output[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) != 0 || ::pipe2(output, O_CLOEXEC) != 0) {
    forked.error = errno;
    for (int fd : {channel[0], channel[1], output[0], output[1]}) close_fd(fd);
    return forked;
  }
  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_PARENT | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
  // clone3 requires 0 with CLONE_PARENT: the child inherits this server's exit signal
  // (SIGCHLD), which goes to jobd, its parent.
  args.exit_signal = 0;
  const long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    ::close(control);
    ::close(channel[0]);
    ::close(output[0]);
    become_worker(channel[1], output[1], options, kinds, jobd);
  }
  forked.error = pid < 0 ? errno : 0;
  ::close(channel[1]);
  ::close(output[1]);
  if (pid < 0) {
    ::close(channel[0]);
    ::close(output[0]);
    return forked;
  }
  forked.pid = static_cast<pid_t>(pid);
  forked.fds[0] = channel[0];
  forked.fds[1] = output[0];
  forked.fds[2] = pidfd;
  return forked;
}

void hand_over(int control, std::uint64_t token, Forked& forked) {
  if (forked.pid < 0) {
    answer(control, {token, -1, forked.error}, nullptr);
    return;
  }
  answer(control, {token, static_cast<std::int32_t>(forked.pid), 0}, forked.fds);
  for (int& fd : forked.fds) {
    ::close(fd);
    fd = -1;
  }
}

void serve_requests(int control, const ForkServerOptions& options, const kinds::KindRegistry& kinds,
                    pid_t jobd);

[[noreturn]] void serve(int control, const ForkServerOptions& options, const kinds::KindRegistry& kinds,
                        pid_t jobd) {
  // Like a worker, the server must never unwind into jobd's main(), whose copy it is.
  try {
    serve_requests(control, options, kinds, jobd);  // returns when jobd closes the control socket
    ::_exit(0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jobd fork server: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "jobd fork server: unknown exception\n");
  }
  ::_exit(1);
}

void serve_requests(int control, const ForkServerOptions& options, const kinds::KindRegistry& kinds,
                    pid_t jobd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != jobd) ::_exit(0);
  // Out of jobd's process group: a Ctrl-C at the terminal is jobd's to handle (it drains, and
  // may still need replacements meanwhile); this server ends when jobd closes the socket.
  ::setpgid(0, 0);
  // Descriptors 0..2 must be taken, or a socket could land there and be clobbered by the
  // worker's dup2s.
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) ::open("/dev/null", O_RDWR);
  }
  // `kinds` was built by jobd's main() before this fork, and is copied into every worker by
  // theirs.
  // One worker is always forked ahead (the spare), so that a request is answered with a
  // worker that has already said hello, and the fork (~0.5-1 ms on this VM, most of a
  // respawn) happens after the answer instead of before it.
  std::optional<Forked> spare;
  for (;;) {
    Request request{};
    const ssize_t n = ::recv(control, &request, sizeof request, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // jobd closed its end: hand back the spare too, so that jobd reaps it (it is jobd's
      // child) instead of leaving a zombie behind.
      if (spare) hand_over(control, 0, *spare);
      return;
    }
    if (n != sizeof request) continue;
    Forked worker = spare && spare->pid > 0 ? *spare : fork_worker(control, options, kinds, jobd);
    spare.reset();
    hand_over(control, request.token, worker);
    spare = fork_worker(control, options, kinds, jobd);
  }
}

}  // namespace

bool ForkServer::memory_limit_enforced() { return !kAddressSanitizer; }

std::unique_ptr<ForkServer> ForkServer::start(const ForkServerOptions& options,
                                              const kinds::KindRegistry& kinds) {
  int control[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) != 0) {
    throw std::system_error(errno, std::generic_category(), "fork server: socketpair");
  }
  const pid_t jobd = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    ::close(control[0]);
    ::close(control[1]);
    throw std::system_error(error, std::generic_category(), "fork server: fork");
  }
  if (pid == 0) {
    ::close(control[0]);
    serve(control[1], options, kinds, jobd);
  }
  ::close(control[1]);
  ::fcntl(control[0], F_SETFL, ::fcntl(control[0], F_GETFL) | O_NONBLOCK);
  return std::unique_ptr<ForkServer>(new ForkServer(pid, posix::open_pidfd(pid), control[0], options));
}

ForkServer::~ForkServer() { stop(); }

bool ForkServer::request(std::uint64_t token) {
  if (control_ < 0) return false;
  const Request message{token};
  ssize_t n;
  do {
    n = ::send(control_, &message, sizeof message, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof message);
}

SpawnAnswer ForkServer::receive() {
  if (control_ < 0) return ServerGone{};
  Answer message{};
  iovec iov{&message, sizeof message};
  msghdr header{};
  header.msg_iov = &iov;
  header.msg_iovlen = 1;
  alignas(cmsghdr) char space[CMSG_SPACE(sizeof(int) * kAnswerFds)];
  header.msg_control = space;
  header.msg_controllen = sizeof space;
  const ssize_t n = ::recvmsg(control_, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return NothingYet{};
    return ServerGone{};
  }
  if (n == 0) return ServerGone{};
  int fds[kAnswerFds] = {-1, -1, -1};
  int received = 0;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr; cmsg = CMSG_NXTHDR(&header, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    const auto count = static_cast<int>((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
      if (received < kAnswerFds) {
        fds[received++] = fd;
      } else {
        ::close(fd);
      }
    }
  }
  const bool complete = n == static_cast<ssize_t>(sizeof message) && message.error == 0 &&
                        received == kAnswerFds && (header.msg_flags & MSG_CTRUNC) == 0;
  if (!complete) {
    for (int fd : fds) close_fd(fd);
    return SpawnFailed{message.token, message.error != 0 ? message.error : EPROTO};
  }
  return SpawnedWorker{message.token, static_cast<pid_t>(message.pid), fds[0], fds[1], fds[2]};
}

void ForkServer::stop() {
  if (control_ >= 0) {
    ::close(control_);
    control_ = -1;
  }
  if (pid_ <= 0) return;
  if (pidfd_ >= 0) {
    pollfd ready{pidfd_, POLLIN, 0};
    if (::poll(&ready, 1, kStopGraceMs) <= 0) ::kill(pid_, SIGKILL);
  } else {
    ::kill(pid_, SIGKILL);
  }
  // Only this one child: the workers are reaped by their pool, subprocesses by theirs.
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  close_fd(pidfd_);
  pidfd_ = -1;
  pid_ = -1;
}

}  // namespace jobd::exec
