#include "metrics/server_metrics.hpp"

namespace jobd::metrics {

namespace {
// Request latency: 50 µs to ~26 s. Job times: 100 µs to ~15 min. Loop lag: 100 µs to ~3 s.
std::vector<double> request_buckets() { return exponential_buckets(0.00005, 2.0, 20); }
std::vector<double> job_buckets() { return exponential_buckets(0.0001, 2.5, 18); }
std::vector<double> lag_buckets() { return exponential_buckets(0.0001, 2.0, 15); }
double seconds(std::chrono::system_clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}
}  // namespace

ServerMetrics::ServerMetrics(Registry& registry)
    : requests_(registry.counter("jobd_http_requests_total", "HTTP requests by route template and status",
                                 {"route", "status"})),
      request_duration_(registry.histogram("jobd_http_request_duration_seconds",
                                           "Time from a request's first byte to its response written",
                                           request_buckets(), {"route"})),
      submitted_(registry.counter("jobd_jobs_submitted_total", "Jobs accepted, by kind and executor",
                                  {"kind", "executor"})),
      finished_(registry.counter("jobd_jobs_finished_total",
                                 "Jobs finished, by kind, executor and final state",
                                 {"kind", "executor", "state"})),
      retries_(registry.counter("jobd_job_retries_total",
                                "Attempts that failed and were queued again to retry, by kind and executor",
                                {"kind", "executor"})),
      run_time_(registry.histogram("jobd_job_run_seconds", "Job run time (started to finished), by kind",
                                   job_buckets(), {"kind"})),
      queue_wait_(registry.histogram("jobd_job_queue_wait_seconds",
                                     "Time a job waited before it started, by kind", job_buckets(),
                                     {"kind"})),
      loop_lag_(registry
                    .histogram("jobd_event_loop_lag_seconds",
                               "How late the event loop ran a timer sampled every 50 ms", lag_buckets())
                    .with()) {}

void ServerMetrics::observe_request(std::string_view route, unsigned status,
                                    std::chrono::nanoseconds duration) {
  auto& by_status = request_cells_[route.data()];
  auto it = by_status.find(status);
  if (it == by_status.end()) {
    const std::string name(route);
    it = by_status
             .emplace(status, RequestCells{&requests_.with({name, std::to_string(status)}),
                                           &request_duration_.with({name})})
             .first;
  }
  it->second.count->inc();
  it->second.duration->observe(std::chrono::duration<double>(duration).count());
}

void ServerMetrics::observe_job(const JobStateChange& change) {
  auto& by_executor = kind_cells_[change.kind.data()];
  KindCells& cells = by_executor[static_cast<std::size_t>(change.executor)];
  // Label strings only when a child is created, not per event.
  const auto kind = [&] { return std::string(change.kind); };
  const auto executor = [&] { return std::string(proto::to_string(change.executor)); };
  if (cells.submitted == nullptr) {
    cells.submitted = &submitted_.with({kind(), executor()});
    cells.retried = &retries_.with({kind(), executor()});
    cells.run_time = &run_time_.with({kind()});
    cells.queue_wait = &queue_wait_.with({kind()});
  }
  if (change.state == proto::JobState::queued) {
    (change.attempt > 1 ? cells.retried : cells.submitted)->inc();
    return;
  }
  if (!proto::is_final(change.state)) return;
  auto& finished = cells.finished[static_cast<std::size_t>(change.state)];
  if (finished == nullptr)
    finished = &finished_.with({kind(), executor(), std::string(proto::to_string(change.state))});
  finished->inc();
  if (change.started_at) {
    cells.queue_wait->observe(seconds(*change.started_at - change.created_at));
    cells.run_time->observe(seconds(change.at - *change.started_at));
  }
}

}  // namespace jobd::metrics
