// The worker's program without a process (exec/process/worker_main): how a RUN frame becomes a
// RESULT, exceptions included, with the kinds jobd's thread pool runs.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <new>
#include <stdexcept>
#include <thread>

#include "exec/process/worker_main.hpp"
#include "jobd/proto/frame.hpp"
#include "kinds/builtin.hpp"
#include "kinds/kind.hpp"

using namespace jobd;

namespace {

kinds::Kind cpu_kind(std::string name, kinds::CpuHandler handler) {
  kinds::Kind kind;
  kind.name = std::move(name);
  kind.executors = {proto::Executor::process};
  kind.run_on_cpu = std::move(handler);
  return kind;
}

proto::Run run_of(std::string kind, nlohmann::json params = nlohmann::json::object()) {
  return proto::Run{"j-1", std::move(kind), std::move(params), 0};
}

}  // namespace

TEST(WorkerRunJob, RunsABuiltInKindAsTheThreadPoolWould) {
  kinds::KindRegistry registry;
  kinds::register_builtin_kinds(registry);
  const auto result = exec::run_job(run_of("primes", {{"n", 100}}), registry, {});
  EXPECT_TRUE(result.outcome.ok());
  EXPECT_EQ(result.job_id, "j-1");
  EXPECT_EQ(result.outcome.result, (nlohmann::json{{"count", 25}}));
}

TEST(WorkerRunJob, KindFailureKeepsItsType) {
  kinds::KindRegistry registry;
  registry.add(cpu_kind("nope", [](const nlohmann::json&, kinds::CpuContext&) {
    return kinds::Outcome::failure("kind-failed", "no");
  }));
  const auto result = exec::run_job(run_of("nope"), registry, {});
  EXPECT_FALSE(result.outcome.ok());
  EXPECT_EQ(result.outcome.error_type, "kind-failed");
  EXPECT_EQ(result.outcome.error_message, "no");
}

TEST(WorkerRunJob, AllocationFailureIsOutOfMemoryNotACrash) {
  kinds::KindRegistry registry;
  registry.add(cpu_kind(
      "hog", [](const nlohmann::json&, kinds::CpuContext&) -> kinds::Outcome { throw std::bad_alloc(); }));
  const auto result = exec::run_job(run_of("hog"), registry, {});
  EXPECT_FALSE(result.outcome.ok());
  EXPECT_EQ(result.outcome.error_type, "out-of-memory");
}

TEST(WorkerRunJob, OtherExceptionsAreInternalErrorsWithTheirMessage) {
  kinds::KindRegistry registry;
  registry.add(cpu_kind("oops", [](const nlohmann::json&, kinds::CpuContext&) -> kinds::Outcome {
    throw std::runtime_error("boom");
  }));
  const auto result = exec::run_job(run_of("oops"), registry, {});
  EXPECT_FALSE(result.outcome.ok());
  EXPECT_EQ(result.outcome.error_type, "internal");
  EXPECT_EQ(result.outcome.error_message, "boom");
}

TEST(WorkerRunJob, UnknownKindIsAnInternalError) {
  kinds::KindRegistry registry;
  const auto result = exec::run_job(run_of("missing"), registry, {});
  EXPECT_FALSE(result.outcome.ok());
  EXPECT_EQ(result.outcome.error_type, "internal");
  EXPECT_NE(result.outcome.error_message.find("missing"), std::string::npos);
}

namespace {

// The worker thread's context switches it made itself (it slept), and its state letter.
struct TaskState {
  long voluntary_switches = -1;
  char state = '?';
};
TaskState task_state(pid_t tid) {
  TaskState task;
  const std::string dir = "/proc/self/task/" + std::to_string(tid);
  std::ifstream status(dir + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("voluntary_ctxt_switches:")) task.voluntary_switches = std::stol(line.substr(24));
  std::ifstream stat(dir + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');  // the name may hold spaces
  if (close != std::string::npos && close + 2 < text.size()) task.state = text[close + 2];
  return task;
}

std::string read_frame(int fd) {
  char buffer[4096];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

// A worker waiting for its next job is woken by a job and by nothing else: jobd reading what
// the worker wrote (its hello, its results) must not wake it. A worker blocked in read() on a
// Unix socket was woken each time, since the socket's write-space wake-up shares the reader's
// wait queue: a switch to the worker and back for nothing, per batch of results jobd read.
TEST(WorkerRunWorker, JobdReadingWhatTheWorkerWroteDoesNotWakeIt) {
  kinds::KindRegistry registry;
  kinds::register_builtin_kinds(registry);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  std::atomic<pid_t> tid{0};
  int code = -1;
  std::thread worker([&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    code = exec::run_worker(fds[1], registry, 0);
  });
  while (tid == 0) std::this_thread::yield();
  // Asleep, with its hello unread in the socket: sleeping, and for 20 ms without a switch.
  const auto asleep = [&] {
    for (int i = 0; i < 200; ++i) {
      const TaskState first = task_state(tid);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const TaskState then = task_state(tid);
      if (first.state == 'S' && then.state == 'S' && first.voluntary_switches == then.voluntary_switches)
        return true;
    }
    return false;
  };
  ASSERT_TRUE(asleep());
  const long before = task_state(tid).voluntary_switches;
  EXPECT_FALSE(read_frame(fds[0]).empty());  // the hello: frees what the worker wrote
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(task_state(tid).voluntary_switches, before) << "the worker was woken with nothing to read";

  // A job still wakes it, and its result comes back.
  const std::string run = proto::encode(proto::Run{"j-1", "primes", {{"n", 100}}, 0});
  ASSERT_EQ(::send(fds[0], run.data(), run.size(), MSG_NOSIGNAL), static_cast<ssize_t>(run.size()));
  proto::FrameDecoder decoder;
  const std::string result = read_frame(fds[0]);
  decoder.feed(result.data(), result.size());
  auto next = decoder.next();
  ASSERT_TRUE(std::holds_alternative<proto::Message>(next));
  const auto* answer = std::get_if<proto::Result>(&std::get<proto::Message>(next));
  ASSERT_NE(answer, nullptr);
  EXPECT_EQ(answer->outcome.result, (nlohmann::json{{"count", 25}}));
  ::close(fds[0]);  // jobd goes: the worker retires
  worker.join();
  EXPECT_EQ(code, 0);
  ::close(fds[1]);
}
