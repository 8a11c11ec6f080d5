// The metrics jobd exposes (issue: see inside jobd), over the sans-I/O Registry.
//
// Hot paths (one call per request, per job state change) look their children up in small
// caches keyed by stable pointers, never by building label strings. Loop thread only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <unordered_map>

#include <optional>

#include "jobd/proto/job.hpp"
#include "metrics/registry.hpp"

namespace jobd::metrics {

class ServerMetrics {
 public:
  explicit ServerMetrics(Registry& registry);

  // One finished HTTP exchange. `route` must have static storage (the router's templates).
  void observe_request(std::string_view route, unsigned status, std::chrono::nanoseconds duration);
  // One state change of a job, as values: the app feeds it from the job table's observer, so
  // that metrics need not know what a Job is. `kind` must have static storage or outlive this
  // object (kind names live in the registry); it also keys the label cache.
  struct JobStateChange {
    std::string_view kind;
    proto::Executor executor;
    proto::JobState state;
    std::chrono::system_clock::time_point created_at;
    std::optional<std::chrono::system_clock::time_point> started_at;
    std::chrono::system_clock::time_point at;
    // The job's attempt: a queued state with attempt > 1 is a retry, not a submission.
    std::uint32_t attempt = 1;
  };
  void observe_job(const JobStateChange& change);
  Histogram& loop_lag() { return loop_lag_; }

 private:
  struct RequestCells {
    Counter* count;
    Histogram* duration;
  };
  struct KindCells {
    Counter* submitted = nullptr;
    Counter* retried = nullptr;
    std::array<Counter*, 6> finished{};  // by final state
    Histogram* run_time = nullptr;
    Histogram* queue_wait = nullptr;
  };

  Family<Counter>& requests_;
  Family<Histogram>& request_duration_;
  Family<Counter>& submitted_;
  Family<Counter>& finished_;
  Family<Counter>& retries_;
  Family<Histogram>& run_time_;
  Family<Histogram>& queue_wait_;
  Histogram& loop_lag_;
  std::unordered_map<const char*, std::unordered_map<unsigned, RequestCells>> request_cells_;
  // Keyed by the kind name's address (stable in the registry) and executor.
  std::unordered_map<const char*, std::array<KindCells, 4>> kind_cells_;
};

}  // namespace jobd::metrics
