#include "app/store_setup.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <chrono>

#include "jobs/scheduler.hpp"
#include "metrics/registry.hpp"

namespace jobd::app {

namespace asio = boost::asio;

std::unique_ptr<store::JobStore> open_configured_store(const config::Config& config, asio::io_context& loop) {
  store::StoreOptions options;
  options.durability = config.durability == config::Durability::machine ? store::Durability::machine
                                                                        : store::Durability::process;
  options.writer_has_own_cpu = config.cpus.usable() > 1;
  options.backup_dir = config.backup_dir;
  options.backup_keep = config.backup_keep;
  // Replicas on Redis (app/cluster_setup.hpp): the table keeps only the jobs running here, in memory.
  const bool shared = config.store.starts_with("redis://") || config.store.starts_with("redis+unix://");
  auto opened = store::open_store(shared ? "memory:" : config.store, options, loop.get_executor());
  if (!opened.store) spdlog::critical("--store {}: {}", config.store, opened.error);
  return std::move(opened.store);
}

bool recover(store::JobStore& store, jobs::Scheduler& scheduler, const kinds::KindRegistry& kinds,
             std::deque<kinds::Kind>& unknown_kinds, asio::io_context& loop, jobs::RecoveryReport& report) {
  if (!store.durable()) return true;
  report = jobs::recover_jobs(store, scheduler, kinds, unknown_kinds, jobs::Clock::now());
  if (!report.error.empty()) {
    spdlog::critical("--store: cannot recover the stored jobs: {}", report.error);
    return false;
  }
  // What recovery wrote (interrupted jobs, ...) is committed before anybody can read it: the
  // loop runs until then (the store's completions run on it), before jobd listens.
  bool committed = false;
  scheduler.table().when_all_committed([&committed] { committed = true; });
  {
    auto busy = asio::make_work_guard(loop);
    while (!committed) loop.run_one();
  }
  loop.restart();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(report.took);
  // A new (or emptied) file is no news: the line is for restarts that brought jobs back.
  spdlog::log(report.total() > 0 ? spdlog::level::info : spdlog::level::debug,
              "recovered {} jobs (queued {}, interrupted {}, retried {}, finished {}, failed {}) in {} ms",
              report.total(), report.queued, report.interrupted, report.retried, report.finished,
              report.failed, took.count());
  return true;
}

namespace {
std::vector<double> batch_buckets() { return {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000}; }
std::vector<double> commit_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1};
}
}  // namespace

void observe_store(store::JobStore& store, metrics::Registry* registry, const jobs::RecoveryReport& report) {
  if (!store.durable()) return;
  metrics::Histogram* batch = nullptr;
  metrics::Histogram* latency = nullptr;
  metrics::Counter* errors = nullptr;
  std::array<metrics::Counter*, 4> gatherings{};  // by store::GatheringEnd
  metrics::Counter* backups_ok = nullptr;
  metrics::Counter* backups_failed = nullptr;
  metrics::Gauge* last_backup = nullptr;
  if (registry != nullptr) {
    batch = &registry
                 ->histogram("jobd_store_commit_batch_size", "Changes committed per store transaction",
                             batch_buckets())
                 .with();
    latency = &registry
                   ->histogram("jobd_store_commit_seconds", "Time of one store commit (BEGIN to COMMIT)",
                               commit_buckets())
                   .with();
    errors =
        &registry->counter("jobd_store_errors_total", "Store commits that failed (each is retried)").with();
    auto& commits = registry->counter("jobd_store_commits_total",
                                      "Store commits, by what ended the group commit's wait for more changes",
                                      {"gathering"});
    gatherings = {&commits.with({"none"}), &commits.with({"count"}), &commits.with({"idle"}),
                  &commits.with({"window"})};
    auto& recovered = registry->counter("jobd_store_recovered_jobs_total",
                                        "Jobs recovered from the store at start-up, by outcome", {"outcome"});
    recovered.with({"queued"}).inc(static_cast<double>(report.queued));
    recovered.with({"interrupted"}).inc(static_cast<double>(report.interrupted));
    recovered.with({"finished"}).inc(static_cast<double>(report.finished));
    recovered.with({"retried"}).inc(static_cast<double>(report.retried));
    recovered.with({"failed"}).inc(static_cast<double>(report.failed));
    auto& backups = registry->counter("jobd_store_backups_total",
                                      "Backups of the store (POST /v1/store/backup)", {"result"});
    backups_ok = &backups.with({"ok"});
    backups_failed = &backups.with({"failed"});
    last_backup = &registry
                       ->gauge("jobd_store_last_backup_timestamp_seconds",
                               "Unix time the last backup of the store was written (0: none since start)")
                       .with();
  }
  store::StoreObserver observer;
  observer.committed = [batch, latency, gatherings](const store::CommitReport& commit) {
    if (auto* counter = gatherings[static_cast<std::size_t>(commit.gathering)]) counter->inc();
    if (batch) batch->observe(static_cast<double>(commit.changes));
    if (latency) latency->observe(std::chrono::duration<double>(commit.latency).count());
  };
  // A failing store is loud once, not once per retry; its recovery says so too.
  auto failing = std::make_shared<bool>(false);
  observer.failed = [errors, failing](std::string_view reason) {
    if (errors) errors->inc();
    if (!*failing) spdlog::error("store failing, submits answer 503 until it commits again: {}", reason);
    *failing = true;
  };
  observer.recovered = [failing] {
    *failing = false;
    spdlog::info("store commits again: submits accepted");
  };
  observer.backed_up = [backups_ok, backups_failed, last_backup](const store::BackupResult& backup) {
    if (backup.error == store::BackupResult::Error::none) {
      spdlog::info("store backed up to {} ({} bytes in {} ms){}{}", backup.path, backup.bytes,
                   backup.took.count(), backup.detail.empty() ? "" : ": ", backup.detail);
      if (backups_ok) backups_ok->inc();
      if (last_backup)
        last_backup->set(
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    } else if (backup.error == store::BackupResult::Error::failed) {
      spdlog::error("store backup failed: {}", backup.detail);
      if (backups_failed) backups_failed->inc();
    }
  };
  store.set_observer(std::move(observer));
}

}  // namespace jobd::app
