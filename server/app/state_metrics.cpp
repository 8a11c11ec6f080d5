#include "app/state_metrics.hpp"

#include "api/api.hpp"
#include "exec/executor.hpp"
#include "http/server.hpp"
#include "jobs/scheduler.hpp"
#include "metrics/registry.hpp"

namespace jobd::app {

void register_state_metrics(metrics::Registry& registry, const jobs::Scheduler& scheduler,
                            const http::HttpServer& server, const api::Api& api) {
  auto& queued = registry.callback_gauge("jobd_executor_queued_jobs",
                                         "Jobs accepted and not started, by executor", {"executor"});
  auto& running =
      registry.callback_gauge("jobd_executor_running_jobs", "Jobs running, by executor", {"executor"});
  auto& capacity = registry.callback_gauge("jobd_executor_capacity_jobs",
                                           "Jobs an executor holds before it answers 429", {"executor"});
  auto& workers =
      registry.callback_gauge("jobd_executor_workers", "Threads or processes of an executor", {"executor"});
  auto& restarts = registry.callback_counter("jobd_worker_restarts_total",
                                             "Worker processes replaced, by cause", {"cause"});
  auto& yields = registry.callback_counter(
      "jobd_executor_cpu_yields_total",
      "Times CPU-bound jobs gave the CPU away at a checkpoint (--thread-yield-us), by executor",
      {"executor"});
  for (auto id : proto::kAllExecutors) {
    const exec::Executor* executor = scheduler.executor(id);
    if (executor == nullptr) continue;
    const std::string name(proto::to_string(id));
    queued.with({name}).set([executor] { return static_cast<double>(executor->stats().queued); });
    running.with({name}).set([executor] { return static_cast<double>(executor->stats().running); });
    capacity.with({name}).set([executor] { return static_cast<double>(executor->stats().capacity); });
    workers.with({name}).set([executor] { return static_cast<double>(executor->stats().workers); });
    if (id == proto::Executor::thread) {
      yields.with({name}).set([executor] { return static_cast<double>(executor->stats().cpu_yields); });
    }
    if (id == proto::Executor::process) {
      for (const char* cause : {"crash", "kill", "recycle"}) {
        restarts.with({cause}).set([executor, cause] {
          for (const auto& [restart_cause, count] : executor->stats().restarts) {
            if (restart_cause == cause) return static_cast<double>(count);
          }
          return 0.0;
        });
      }
    }
  }
  registry.callback_gauge("jobd_http_connections", "Open HTTP connections").with().set([&server] {
    return static_cast<double>(server.connections());
  });
  registry.callback_gauge("jobd_sse_subscribers", "Open Server-Sent Events streams").with().set([&api] {
    return static_cast<double>(api.open_event_streams());
  });
  auto& jobs =
      registry.callback_gauge("jobd_jobs_retained", "Jobs in the table, active or finished", {"phase"});
  jobs.with({"active"}).set([&scheduler] { return static_cast<double>(scheduler.table().counts().active); });
  jobs.with({"finished"}).set([&scheduler] {
    return static_cast<double>(scheduler.table().counts().finished);
  });
  registry
      .callback_gauge(
          "jobd_jobs_waiting",
          "Queued jobs held for their run_at (delayed, or retrying after a backoff) or for room in "
          "their executor")
      .with()
      .set([&scheduler] { return static_cast<double>(scheduler.waiting()); });
  registry
      .callback_gauge("jobd_jobs_retained_bytes",
                      "Bytes of params, results, executor fields and output texts of the finished jobs kept")
      .with()
      .set([&scheduler] { return static_cast<double>(scheduler.table().retained_bytes()); });
  metrics::add_process_metrics(registry);
}

}  // namespace jobd::app
