// Scheduler: turns API calls into job transitions. It admits jobs (kind, executor, params,
// queue room), arms their deadlines, routes cancels to the right executor, and passes what
// executors report to the job table (it is their JobSink); it never writes a Job itself. Loop
// thread only, like the JobTable it drives.
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <variant>

#include "exec/executor.hpp"
#include "jobd/proto/job_spec.hpp"
#include "jobd/proto/problem.hpp"
#include "jobs/job_table.hpp"

namespace jobd::kinds {
class KindRegistry;
}

namespace jobd::jobs {

struct SchedulerOptions {
  std::chrono::milliseconds default_timeout{std::chrono::minutes(5)};  // when a job names none
  std::chrono::milliseconds max_timeout{std::chrono::hours(1)};        // largest timeout_ms accepted
  unsigned retry_after_s = 1;                                          // Retry-After of 429 and 503 answers
};

struct Submitted {
  const Job* job;
  bool replayed;  // an earlier job with the same idempotency key
};

class Scheduler final : public exec::JobSink {
 public:
  Scheduler(boost::asio::any_io_executor loop, JobTable& table, const kinds::KindRegistry& kinds,
            SchedulerOptions options);
  ~Scheduler() override;

  void add_executor(std::unique_ptr<exec::Executor> executor);
  exec::Executor* executor(proto::Executor id) const;

  std::variant<Submitted, proto::Problem> submit(proto::JobSpec spec);
  // Waits until the job's insert is committed (at once without a durable store): a submit is
  // answered only then. False when the wait was cancelled (the client left) first.
  boost::asio::awaitable<bool> wait_committed(JobSeq seq);
  // Waits until the job's final state, ended but waiting for its commit, is applied (at once
  // when none is pending): a cancel that stopped the job answers with its final state.
  boost::asio::awaitable<bool> wait_final_applied(JobSeq seq);
  // Recovery (jobs/recovery.hpp): hands a restored queued job to its executor again, with what
  // is left of its deadline; fails it when its executor is gone or its deadline passed.
  enum class Resubmitted { queued, timed_out, failed };
  Resubmitted resubmit(const Job& job, Clock::time_point now);
  // DELETE: 404 for an unknown job, 409 for a finished one.
  std::variant<const Job*, proto::Problem> cancel(std::string_view id);
  // Waits until the job is final or `until` passes. Returns the final record's JSON text,
  // rendered as the job finished (it may be evicted right after), or nullopt when the wait ran
  // out first.
  boost::asio::awaitable<std::optional<std::string>> wait_final(JobSeq seq,
                                                                std::chrono::steady_clock::time_point until);

  // Shutdown: refuse new jobs; later stop whatever is still queued or running.
  void begin_drain() { draining_ = true; }
  bool draining() const { return draining_; }
  void stop_all(exec::StopReason reason);
  void shutdown_executors();
  bool ready() const;
  JobTable& table() { return table_; }
  const JobTable& table() const { return table_; }
  const SchedulerOptions& options() const { return options_; }

  // exec::JobSink
  void on_started(JobSeq seq, nlohmann::json details) override;
  void on_progress(JobSeq seq, double fraction, std::string text) override;
  void on_output(JobSeq seq, exec::OutputStream stream, std::string_view line) override;
  void on_finished(JobSeq seq, exec::Outcome outcome) override;

 private:
  void arm_deadline(const Job& job, std::chrono::milliseconds after);
  // Waits for a callback that `subscribe` hands to the table; false when cancelled first.
  boost::asio::awaitable<bool> wait_for_table(const std::function<void(std::function<void()>)>& subscribe);
  void stop(const Job& job, exec::StopReason reason);

  boost::asio::any_io_executor loop_;
  JobTable& table_;
  const kinds::KindRegistry& kinds_;
  SchedulerOptions options_;
  bool draining_ = false;
  std::array<std::unique_ptr<exec::Executor>, 4> executors_;  // indexed by proto::Executor
  std::unordered_map<JobSeq, boost::asio::steady_timer> deadlines_;
};

}  // namespace jobd::jobs
