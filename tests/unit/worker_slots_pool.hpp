// The process pool's state machine driven by hand, for its unit tests: a Pool fixture that plays
// the fork server and the workers, and helpers that read the actions it returns.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "exec/process/worker_slots.hpp"
#include "kinds/kind.hpp"

namespace jobd::testing {

using namespace std::chrono_literals;
using exec::WorkerId;
using exec::WorkerSlots;
using Actions = WorkerSlots::Actions;
using proto::JobState;

// Every action of type T, in order.
template <typename T>
std::vector<T> all(const Actions& actions) {
  std::vector<T> out;
  for (const auto& action : actions) {
    if (const T* one = std::get_if<T>(&action)) out.push_back(*one);
  }
  return out;
}

inline std::vector<JobState> finished_states(const Actions& actions) {
  std::vector<JobState> states;
  for (const auto& finish : all<WorkerSlots::FinishJob>(actions)) states.push_back(finish.outcome.state);
  return states;
}

// The order of the action types, e.g. "SendRun ReportStarted FinishJob".
inline std::string shape(const Actions& actions) {
  static const char* const kNames[] = {"RequestSpawn",   "SendRun",      "ReportStarted",
                                       "ReportProgress", "FinishJob",    "KillGroup",
                                       "CloseSocket",    "StartBackoff", "Log"};
  std::string text;
  for (const auto& action : actions) {
    if (std::holds_alternative<WorkerSlots::Log>(action)) continue;  // logs are checked on their own
    text += (text.empty() ? "" : " ") + std::string(kNames[action.index()]);
  }
  return text;
}

// A pool driven by hand: the fork server and the workers are this fixture.
class Pool {
 public:
  explicit Pool(exec::ProcessPoolOptions options, std::uint64_t cpu_seconds = 0)
      : slots(options, cpu_seconds) {
    kind_.name = "primes";
    kind_.executors = {proto::Executor::process};
  }

  // Answers every spawn request in `actions` with a new worker; returns them.
  std::vector<WorkerId> spawn_all(const Actions& actions) {
    std::vector<WorkerId> spawned;
    for (const auto& request : all<WorkerSlots::RequestSpawn>(actions)) {
      const pid_t pid = next_pid_++;
      spawned.push_back(slots.spawned(request.token, pid, now));
      pids_[spawned.back()] = pid;
    }
    return spawned;
  }
  // start() and a hello from each of the M workers.
  std::vector<WorkerId> start_ready() {
    std::vector<WorkerId> ready = spawn_all(slots.start(now));
    for (WorkerId id : ready) hello(id);
    return ready;
  }
  Actions hello(WorkerId id) { return slots.message(id, proto::Hello{pids_[id]}, now); }
  Actions submit(exec::JobSeq seq, bool watched = false) {
    auto control = std::make_shared<exec::JobControl>();
    control->watched.store(watched);
    return slots.submit({seq, job_id(seq), &kind_, nlohmann::json::object(),
                         exec::WorkerSlots::TimePoint::max(), std::move(control)},
                        now);
  }
  Actions succeed(WorkerId id, exec::JobSeq seq) {
    return slots.message(id, proto::Result::success(job_id(seq), {{"count", 25}}), now);
  }
  Actions exit(WorkerId id, int code, int status) { return slots.exited(id, {code, status}, now); }
  std::uint64_t restarts(const std::string& cause) const {
    for (const auto& [name, count] : slots.stats().restarts) {
      if (name == cause) return count;
    }
    return ~0ull;
  }
  static std::string job_id(exec::JobSeq seq) { return "job-" + std::to_string(seq); }

  WorkerSlots slots;
  WorkerSlots::TimePoint now = WorkerSlots::TimePoint{} + 1h;

 private:
  kinds::Kind kind_;
  pid_t next_pid_ = 100;
  std::map<WorkerId, pid_t> pids_;
};

inline WorkerId run_target(const Actions& actions) {
  const auto runs = all<WorkerSlots::SendRun>(actions);
  return runs.size() == 1 ? runs.front().worker : 0;
}

}  // namespace jobd::testing
