#include "app/app.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <fstream>
#include <spdlog/spdlog.h>

#include "api/api.hpp"
#include "exec/loop_executor.hpp"
#include "exec/thread_executor.hpp"
#include "http/server.hpp"
#include "jobs/scheduler.hpp"
#include "kinds/kind.hpp"

namespace jobd::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// How often finished jobs past their retention are evicted.
constexpr auto kRetentionSweep = 1s;
// How often the drain looks whether jobs or connections are still there.
constexpr auto kDrainPoll = 10ms;
// After the jobs are done: how long open connections get to finish their last response.
constexpr auto kConnectionGrace = 2s;
// After stopping what the drain timeout left: how long executors get to report it stopped
// (a subprocess gets SIGTERM, then SIGKILL after its grace).
constexpr auto kStopGrace = 5s;

asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(use_tuple);
}

asio::awaitable<void> sweep_retention(jobs::JobTable& table) {
  for (;;) {
    co_await sleep_for(kRetentionSweep);
    table.evict_expired(jobs::Clock::now());
  }
}

// SIGTERM/SIGINT: stop accepting, let jobs finish up to the drain timeout, stop the rest,
// let connections deliver their last answers, then stop the loop.
asio::awaitable<void> drain(asio::io_context& loop, const config::Config& config,
                            jobs::Scheduler& scheduler, http::HttpServer& server) {
  server.stop_accepting();
  scheduler.begin_drain();
  const auto active = [&] { return scheduler.table().counts().active; };
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

}  // namespace

int run(const config::Config& config) {
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context loop(1);

  kinds::KindRegistry kinds;
  kinds::register_builtin_kinds(kinds, config.test_kinds);

  jobs::JobTable table({config.max_jobs, config.retention});
  jobs::Scheduler scheduler(loop.get_executor(), table, kinds,
                            {config.default_timeout, config.max_timeout, 1});
  scheduler.add_executor(
      std::make_unique<exec::LoopExecutor>(loop.get_executor(), scheduler, config.loop_jobs));
  scheduler.add_executor(std::make_unique<exec::ThreadExecutor>(
      loop.get_executor(), scheduler,
      exec::ThreadPoolOptions{config.threads, config.queue_depth, config.thread_nice, 50us}));

  api::Api api(scheduler, kinds, {config.max_wait, config.max_json_depth, 1000});
  http::HttpServer server(loop, api,
                          {config.max_body, config.max_header, config.header_timeout,
                           config.body_timeout, config.idle_timeout, config.max_connections});
  std::uint16_t port = 0;
  try {
    port = server.listen(config.listen);
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}:{}: {}", config.listen.host, config.listen.port, e.what());
    scheduler.shutdown_executors();
    return 1;
  }
  if (!config.port_file.empty()) {
    // Written to a temporary name and renamed, so a reader never sees half a number.
    const std::string temporary = config.port_file + ".tmp";
    std::ofstream(temporary) << port << '\n';
    std::rename(temporary.c_str(), config.port_file.c_str());
  }
  server.start();
  spdlog::info("jobd listening on {}:{} ({} pool threads, queue depth {})", config.listen.host, port,
               config.threads, config.queue_depth);

  asio::co_spawn(loop, sweep_retention(table), asio::detached);

  asio::signal_set signals(loop, SIGINT, SIGTERM);
  bool draining = false;
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code error, int signo) {
    if (error) return;
    if (draining) {
      spdlog::warn("second signal ({}): exiting now", signo);
      std::_Exit(128 + signo);
    }
    draining = true;
    spdlog::info("signal {}: shutting down", signo);
    asio::co_spawn(loop, drain(loop, config, scheduler, server), asio::detached);
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  loop.run();
  scheduler.shutdown_executors();
  return 0;
}

}  // namespace jobd::app
