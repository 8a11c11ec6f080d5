// The contract between the scheduler and the four executors.
//
// All calls in both directions happen on the loop thread. An executor that runs code elsewhere
// (thread pool, worker process, subprocess) hands its outcome back with asio::post before it
// calls the sink. Every job an executor accepts gets exactly one on_finished.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exec/job_control.hpp"
#include "jobd/proto/job.hpp"
#include "jobd/proto/outcome.hpp"

namespace jobd::kinds {
struct Kind;
}

namespace jobd::exec {

using JobSeq = std::uint64_t;

// What an executor needs to run one job.
struct JobTicket {
  JobSeq seq = 0;
  std::string job_id;
  const kinds::Kind* kind = nullptr;
  nlohmann::json params;
  // Absolute deadline on the steady clock; time_point::max() when none.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::shared_ptr<JobControl> control;
};

// How a job ended: the one type kinds, worker frames, executors and the job table share.
using proto::Outcome;

enum class StopReason { cancelled, timed_out, shutdown };

enum class OutputStream { stdout_stream, stderr_stream };

// Receives executor news about jobs; implemented by the scheduler, which hands each to the job
// table (the only writer of job state). Loop thread only.
class JobSink {
 public:
  virtual ~JobSink() = default;
  // The job started; `details` (an object, or null) joins the job record (worker_pid, pid).
  virtual void on_started(JobSeq seq, nlohmann::json details) = 0;
  virtual void on_progress(JobSeq seq, double fraction, std::string text) = 0;
  // One line a subprocess wrote (valid UTF-8, no newline).
  virtual void on_output(JobSeq seq, OutputStream stream, std::string_view line) = 0;
  // Exactly once per accepted job. A job that started without an on_started (a thread job
  // nobody watched) is shown as started at JobControl::started_ns.
  virtual void on_finished(JobSeq seq, Outcome outcome) = 0;
};

struct ExecutorStats {
  std::size_t queued = 0;  // accepted, not started
  std::size_t running = 0;
  std::size_t capacity = 0;  // queued + running allowed before 429
  std::size_t workers = 0;   // threads or processes (0 for loop)
  // Worker processes replaced so far, by cause ("crash", "kill", "recycle"); process executor.
  std::vector<std::pair<std::string, std::uint64_t>> restarts;
  // Times CPU-bound jobs gave the CPU away at a checkpoint (kinds::CpuContext); thread executor.
  std::uint64_t cpu_yields = 0;
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual proto::Executor id() const = 0;
  // Whether one more job fits now; a job is created only after this says yes, so a refused
  // submission leaves nothing behind (the loop is single-threaded: nothing races in between).
  virtual bool has_room() const = 0;
  virtual void submit(JobTicket ticket) = 0;
  // Stops a queued or running job. The executor finishes it with the matching state, at once or
  // when it is really gone (a subprocess after its process group died), as it can.
  virtual void stop(JobSeq seq, StopReason reason) = 0;
  virtual ExecutorStats stats() const = 0;
  // False while the executor cannot take work yet (worker processes starting).
  virtual bool ready() const { return true; }
  // Called once at shutdown after jobs were drained or stopped: release threads and processes.
  virtual void shutdown() {}
};

// The final state and error a stop reason leads to.
inline Outcome stopped_outcome(StopReason reason) {
  switch (reason) {
    case StopReason::timed_out:
      return Outcome::failure(proto::job_error::timed_out, "deadline exceeded", proto::JobState::timed_out);
    case StopReason::cancelled:
      return Outcome::failure(proto::job_error::cancelled, "cancelled by request",
                              proto::JobState::cancelled);
    case StopReason::shutdown: break;
  }
  return Outcome::failure(proto::job_error::cancelled, "cancelled at shutdown (drain timeout)",
                          proto::JobState::cancelled);
}

}  // namespace jobd::exec
