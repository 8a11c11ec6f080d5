#include "app/app.hpp"

#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <spdlog/spdlog.h>
#include <csignal>
#include <cstring>
#include <fstream>

#include "api/api.hpp"
#include "app/cluster_setup.hpp"
#include "app/state_metrics.hpp"
#include "app/store_setup.hpp"
#include "exec/loop/loop_executor.hpp"
#include "exec/process/fork_server.hpp"
#include "exec/process/process_executor.hpp"
#include "exec/subprocess/command_config.hpp"
#include "exec/subprocess/subprocess_executor.hpp"
#include "exec/thread/thread_executor.hpp"
#include "http/server.hpp"
#include "jobs/scheduler.hpp"
#include "kinds/kind.hpp"
#include "kinds/sleep_for.hpp"
#include "metrics/loop_lag.hpp"
#include "metrics/registry.hpp"
#include "metrics/server_metrics.hpp"

namespace jobd::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using kinds::sleep_for;

namespace {

// How often finished jobs past their retention are evicted.
constexpr auto kRetentionSweep = 1s;
// Evicting at least this many jobs in one sweep returns free memory to the kernel (malloc_trim
// walks the heap: not worth it for a few jobs, measured in bench/RESULTS.md).
constexpr std::size_t kTrimAfterEvicting = 1000;
// How often the drain looks whether jobs or connections are still there.
constexpr auto kDrainPoll = 10ms;
// After the jobs are done: how long open connections get to finish their last response.
constexpr auto kConnectionGrace = 2s;
// After stopping what the drain timeout left: how long executors get to report it stopped
// (a subprocess gets SIGTERM, then SIGKILL after its grace).
constexpr auto kStopGrace = 5s;
// How long the pool's threads get at exit when no drain set the deadline (today only a drain
// stops the loop: a safety net).
constexpr auto kThreadJoinGrace = 2s;

asio::awaitable<void> sweep_retention(jobs::JobTable& table) {
  for (;;) {
    co_await sleep_for(kRetentionSweep);
    // After a large eviction, hand the freed memory back to the kernel: glibc keeps freed
    // chunks in its arenas, so RSS would stay at the plateau with an empty table.
    if (table.evict_expired(jobs::Clock::now()) >= kTrimAfterEvicting) ::malloc_trim(0);
  }
}

// SIGTERM/SIGINT: stop accepting, let jobs finish up to the drain timeout, stop the rest,
// let connections deliver their last answers, then stop the loop.
// `exit_by` is set to when the process must be gone at the latest: drain timeout + kill grace.
asio::awaitable<void> drain(asio::io_context& loop, const config::Config& config, jobs::Scheduler& scheduler,
                            http::HttpServer& server, std::chrono::steady_clock::time_point& exit_by,
                            const cluster::Cluster* shared) {
  exit_by = std::chrono::steady_clock::now() + config.drain_timeout + config.kill_grace;
  server.stop_accepting();
  scheduler.begin_drain();
  // Jobs waiting for their time are not waited for: they stay queued (a durable store keeps them).
  // Replicas on Redis: an ended job counts until its finish is written there.
  const auto active = [&] {
    return scheduler.table().counts().active - scheduler.waiting() + (shared ? shared->finishing() : 0);
  };
  spdlog::info("draining: {} jobs active, up to {} ms", active(), config.drain_timeout.count());
  const auto deadline = std::chrono::steady_clock::now() + config.drain_timeout;
  while (active() > 0 && std::chrono::steady_clock::now() < deadline) co_await sleep_for(kDrainPoll);
  if (active() > 0) {
    spdlog::warn("drain timeout: cancelling {} jobs", active());
    scheduler.stop_all(exec::StopReason::shutdown);
    const auto stop_deadline = std::chrono::steady_clock::now() + kStopGrace;
    while (active() > 0 && std::chrono::steady_clock::now() < stop_deadline) co_await sleep_for(kDrainPoll);
  }
  server.close_connections();
  const auto grace_deadline = std::chrono::steady_clock::now() + kConnectionGrace;
  while (server.connections() > 0 && std::chrono::steady_clock::now() < grace_deadline) {
    co_await sleep_for(kDrainPoll);
  }
  spdlog::info("drained; exiting");
  loop.stop();
}

// One access-log line (--access-log): never headers, so never a token.
void log_access(const http::RequestRecord& record) {
  spdlog::info("access {} {} {} {} {}B {:.3f}ms", record.peer, record.method, record.target, record.status,
               record.body_bytes, std::chrono::duration<double, std::milli>(record.duration).count());
}

// Connections, the listener, pidfds and subprocess pipes are all descriptors, and the usual
// soft limit (1024) is far below --max-connections. Raise the soft limit to the hard one, as
// servers do, and say so when even that cannot hold every connection.
void raise_open_file_limit(std::size_t max_connections) {
  constexpr std::size_t kReserve = 64;  // listener, logs, pidfds, pipes of running subprocesses
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return;
  if (files.rlim_cur < files.rlim_max) {
    const rlim_t before = files.rlim_cur;
    files.rlim_cur = files.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &files) != 0) files.rlim_cur = before;
  }
  if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < max_connections + kReserve) {
    spdlog::warn(
        "open-file limit {} is below --max-connections {} + {}: connections beyond the limit wait "
        "in the backlog (raise `ulimit -n`)",
        files.rlim_cur, max_connections, kReserve);
  }
}

// An idle pool thread polls for work briefly before it parks: a job handed to a parked thread
// on another core waits ~40-50 us for it to wake (DESIGN section 6). On a single usable CPU
// nothing can hand it work while it spins: the spin holds the core the loop needs (without it,
// thread jobs/s on one core won 5 of 6 interleaved pairs, +4 %: bench/RESULTS.md, stop 30).
std::chrono::microseconds pool_spin(const config::CpuBudget& cpus) { return cpus.usable() > 1 ? 50us : 0us; }

// io_context::run(), telling `idle` each time the loop ran everything that was ready and is
// about to wait: poll() runs what is ready (a non-blocking look at the sockets included), and
// run_one() waits for the next event and runs it.
void run_loop(asio::io_context& loop, const std::function<void()>& idle) {
  for (;;) {
    loop.poll();
    if (loop.stopped()) return;
    idle();
    if (loop.run_one() == 0) return;
  }
}

}  // namespace

int sched_policy(config::CpuPolicy policy) {
  switch (policy) {
    case config::CpuPolicy::batch: return SCHED_BATCH;
    case config::CpuPolicy::idle: return SCHED_IDLE;
    case config::CpuPolicy::normal: break;
  }
  return SCHED_OTHER;
}

int run(const config::Config& config, kinds::KindRegistry& kinds,
        std::unique_ptr<exec::ForkServer> fork_server) {
  std::signal(SIGPIPE, SIG_IGN);
  raise_open_file_limit(config.max_connections);
  asio::io_context loop(1);

  if (!config.command_config.empty()) {
    // A bad command config stops jobd here, naming the entry and the field.
    try {
      exec::register_command_kinds(kinds, exec::load_command_config_file(config.command_config));
    } catch (const std::exception& e) {
      spdlog::critical("command config {}: {}", config.command_config, e.what());
      return 2;
    }
  }

  // The store before anything listens: a refused one (held by another jobd, corrupt, newer)
  // stops start-up here with one line.
  std::unique_ptr<store::JobStore> store = open_configured_store(config, loop);
  if (!store) return 1;
  std::deque<kinds::Kind> unknown_kinds;  // stand-ins for recovered jobs of unregistered kinds
  jobs::JobTable table({config.max_jobs, config.retention, config.event_history, config.max_retained_bytes},
                       store.get());
  jobs::Scheduler scheduler(loop.get_executor(), table, kinds,
                            {config.default_timeout, config.max_timeout, 1, config.retry_max_delay,
                             config.max_waiting_jobs, config.insert_hold});
  scheduler.add_executor(std::make_unique<exec::LoopExecutor>(loop.get_executor(), scheduler,
                                                              config.loop_jobs, metrics::note_loop_activity));
  auto threads = std::make_unique<exec::ThreadExecutor>(
      loop.get_executor(), scheduler,
      exec::ThreadPoolOptions{config.threads, config.queue_depth, config.thread_nice,
                              sched_policy(config.thread_policy), pool_spin(config.cpus),
                              std::chrono::microseconds(config.thread_yield_us)});
  exec::ThreadExecutor& thread_executor = *threads;
  scheduler.add_executor(std::move(threads));
  auto subprocess = std::make_unique<exec::SubprocessExecutor>(
      loop.get_executor(), scheduler,
      exec::SubprocessOptions{config.max_subprocesses, config.queue_depth, config.kill_grace});
  scheduler.add_executor(std::move(subprocess));
  if (fork_server) {
    if (!exec::ForkServer::memory_limit_enforced()) {
      spdlog::warn("AddressSanitizer build: --worker-memory (RLIMIT_AS) is not enforced");
    }
    scheduler.add_executor(std::make_unique<exec::ProcessExecutor>(
        loop.get_executor(), scheduler, *fork_server,
        exec::ProcessPoolOptions{config.workers, config.queue_depth, config.worker_max_jobs,
                                 config.worker_pipeline}));
  }

  jobs::RecoveryReport recovered;
  if (!recover(*store, scheduler, kinds, unknown_kinds, loop, recovered)) {
    scheduler.shutdown_executors();
    return 1;
  }
  // --store redis://: connected and checked before anything listens.
  std::unique_ptr<cluster::Cluster> shared;
  if (shared_store(config)) {
    shared = start_cluster(config, loop, scheduler, kinds);
    if (!shared) {
      scheduler.shutdown_executors();
      return 1;
    }
  }

  api::TokenSet tokens;
  if (!config.token_file.empty()) {
    try {
      tokens = api::TokenSet::load_file(config.token_file);
    } catch (const std::exception& e) {
      spdlog::critical("{}", e.what());
      scheduler.shutdown_executors();
      return 2;
    }
  }
  api::Api api(loop.get_executor(), scheduler, kinds,
               {config.max_wait,
                config.max_json_depth,
                config.max_list_limit,
                config.max_list_bytes,
                {config.sse_buffer, config.sse_heartbeat, nullptr, config.idle_timeout},
                std::move(tokens),
                config.metrics_public,
                {config.store, config.durability == config::Durability::machine ? "machine" : "process"},
                shared.get(),
                store.get()});
  http::HttpServer server(loop, api,
                          {config.max_body, config.max_header, config.header_timeout, config.body_timeout,
                           config.idle_timeout, config.max_connections, config.slow_handler});

  // Metrics: the registry lives as long as the loop; the table's global observer and the
  // server's request observer feed it, callback gauges read executors at scrape time.
  metrics::Registry registry;
  metrics::ServerMetrics server_metrics(registry);
  observe_store(*store, config.metrics ? &registry : nullptr, recovered);
  if (config.metrics) {
    register_state_metrics(registry, scheduler, server, api);
    if (shared) observe_cluster(*shared, registry);
    table.watch_all(
        [&server_metrics](const jobs::Job& job, const jobs::JobEvent& event) {
          server_metrics.observe_job({job.kind->name, job.executor, event.state, job.created_at,
                                      job.visible_started_at(), event.at, job.attempt});
        },
        jobs::WatchAll::recorder);
    server.on_request([&server_metrics, access_log = config.access_log](const http::RequestRecord& record) {
      server_metrics.observe_request(record.route, record.status, record.duration);
      if (access_log) log_access(record);
    });
    api.serve_metrics([&registry] { return registry.expose(); });
    metrics::start_lag_sampler(loop.get_executor(), server_metrics.loop_lag(), config.slow_handler);
  } else if (config.access_log) {
    server.on_request(log_access);
  }
  config::ListenAddress bound;
  try {
    bound = server.listen(config.listen);
  } catch (const std::exception& e) {
    spdlog::critical("--listen {}:{}: {}", config.listen.host, config.listen.port, e.what());
    scheduler.shutdown_executors();
    return 1;
  }
  const std::uint16_t port = bound.port;
  if (!config.port_file.empty()) {
    // Written to a temporary name and renamed, so a reader never sees half a number. A file
    // that cannot be written stops jobd: whoever waits for it would wait for ever.
    const std::string temporary = config.port_file + ".tmp";
    std::ofstream file(temporary);
    file << port << '\n';
    file.close();
    if (!file || std::rename(temporary.c_str(), config.port_file.c_str()) != 0) {
      spdlog::critical("--port-file {}: cannot write it: {}", config.port_file, std::strerror(errno));
      std::remove(temporary.c_str());
      scheduler.shutdown_executors();
      return 1;
    }
  }
  server.start();
  // The address it chose, when --listen named a host: "localhost" may resolve to several.
  const std::string chosen = bound.host == config.listen.host ? "" : " (" + config.listen.host + ")";
  spdlog::info("jobd listening on {}:{}{} ({} pool threads, {} workers, queue depth {}; {})",
               bound.host.find(':') == std::string::npos ? bound.host : "[" + bound.host + "]", port, chosen,
               config.threads, fork_server ? config.workers : 0, config.queue_depth, config.cpus.describe());

  asio::co_spawn(loop, sweep_retention(table), asio::detached);

  // SIGTERM/SIGINT drain (a second one exits at once); SIGQUIT exits at once. SIGHUP, SIGUSR1 and
  // SIGUSR2, whose default is to kill, are logged and ignored: jobd writes its log to stderr (no
  // file to reopen) and a stray `kill -HUP` must not take every running job down with it.
  asio::signal_set signals(loop, SIGINT, SIGTERM, SIGQUIT);
  signals.add(SIGHUP);
  signals.add(SIGUSR1);
  signals.add(SIGUSR2);
  bool draining = false;
  auto exit_by = std::chrono::steady_clock::time_point::min();
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code error,
                                                                      int signo) {
    if (error) return;
    signals.async_wait(on_signal);
    if (signo == SIGHUP || signo == SIGUSR1 || signo == SIGUSR2) {
      spdlog::info("signal {} ignored (SIGTERM drains, SIGQUIT exits at once)", signo);
      return;
    }
    if (draining || signo == SIGQUIT) {
      spdlog::warn("{} ({}): exiting now", draining ? "second signal" : "SIGQUIT", signo);
      spdlog::default_logger()->flush();
      std::_Exit(128 + signo);
    }
    draining = true;
    spdlog::info("signal {}: shutting down", signo);
    asio::co_spawn(loop, drain(loop, config, scheduler, server, exit_by, shared.get()), asio::detached);
  };
  signals.async_wait(on_signal);

  run_loop(loop, [&store] { store->loop_idle(); });
  if (shared) shared->stop();
  // A thread job that ignores its stop token was reported cancelled at the drain timeout, but its
  // thread cannot be killed: jobd exits without it by drain timeout + kill grace, abandoning its
  // work with the process. Exiting runs no destructors, which would free what the thread uses.
  if (exit_by == std::chrono::steady_clock::time_point::min())
    exit_by = std::chrono::steady_clock::now() + kThreadJoinGrace;
  if (!thread_executor.shutdown_until(exit_by)) {
    spdlog::warn(
        "{} thread job(s) still running past the drain timeout + kill grace (a kind that ignores its stop "
        "token): exiting without them",
        thread_executor.stats().running);
    scheduler.shutdown_executors();
    spdlog::default_logger()->flush();
    std::_Exit(0);
  }
  scheduler.shutdown_executors();
  if (const store::StoreHealth closed = store->close(); !closed.ok) {
    spdlog::error("--store: {}", closed.reason);
    return 1;
  }
  return 0;
}

}  // namespace jobd::app
