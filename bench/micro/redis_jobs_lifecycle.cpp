// redis_jobs_lifecycle: whole job lifecycles per second through the Redis job model
// (store/redis_jobs.hpp): submit, claim (XREADGROUP, then the start script), fenced finish; and
// what one lifecycle costs Redis: round trips from jobd, and commands Redis executes (those
// inside the scripts included, from INFO commandstats).
//
// `window` coroutines on one loop each repeat submit -> claim 1 -> finish, pipelined over one
// command connection and one claims connection (no BLOCK: a claim that finds another worker's
// job finishes that one). No executor runs anything: this is the queue's own cost.
//
// Build: part of the CMake build (target redis_jobs_lifecycle).
// Run:   redis-server --port 6399 --save '' --appendonly yes --appendfsync everysec &   (stop by PID)
//        build/bench/redis_jobs_lifecycle redis://127.0.0.1:6399 [jobs=20000] [window=16]
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "store/redis/connection.hpp"
#include "store/redis_jobs.hpp"

namespace {

using namespace jobd::store;
using namespace jobd::store::redis;
using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;

struct Run {
  long started = 0;
  long finished = 0;
  long errors = 0;
  int workers = 0;  // still running
};

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The sum of `calls=` over INFO commandstats: every command Redis executed.
long long commands_executed(std::string_view info) {
  long long total = 0;
  for (std::size_t at = info.find("calls="); at != std::string_view::npos; at = info.find("calls=", at + 6)) {
    long long calls = 0;
    std::from_chars(info.data() + at + 6, info.data() + info.size(), calls);
    total += calls;
  }
  return total;
}

asio::awaitable<void> worker(RedisJobs& jobs, Run& run, long total, int number) {
  const std::string consumer = "bench-" + std::to_string(number);
  while (run.started < total) {
    JobRow row;
    row.id = "bench-" + std::to_string(run.started++) + "-" + std::to_string(wall_ms());
    row.kind = "echo";
    row.executor = jobd::proto::Executor::thread;
    row.params_json = R"({"message":"hi"})";
    row.created_at_ms = wall_ms();
    auto submitted = co_await jobs.submit(std::move(row));
    if (!submitted.ok()) ++run.errors;
    auto claimed = co_await jobs.claim(jobd::proto::Executor::thread, consumer, 1,
                                       std::chrono::milliseconds(0), wall_ms());
    if (!claimed.ok()) ++run.errors;
    for (const RedisJob& job : claimed.value) {
      AttemptEnd end{.state = jobd::proto::JobState::succeeded, .result_json = R"({"message":"hi"})"};
      auto done = co_await jobs.finish(job.row.id, consumer, job.row.attempt, std::move(end), wall_ms());
      if (!done.ok() || done.value != FinishResult::accepted) ++run.errors;
      ++run.finished;
    }
  }
  --run.workers;
}

template <typename T>
T run_once(asio::io_context& loop, asio::awaitable<T> work) {
  T out{};
  bool done = false;
  asio::co_spawn(loop, std::move(work), [&](const std::exception_ptr&, T value) {
    out = std::move(value);
    done = true;
  });
  loop.restart();
  while (!done) loop.run_one();  // NOLINT(bugprone-infinite-loop): the handler run_one runs sets it
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URI [jobs=20000] [window=16]\n", argv[0]);
    return 2;
  }
  auto parsed = parse_redis_uri(argv[1]);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    std::fprintf(stderr, "%s\n", error->c_str());
    return 2;
  }
  const long total = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 20'000;
  const int window = argc > 3 ? std::atoi(argv[3]) : 16;
  spdlog::set_level(spdlog::level::warn);
  RedisOptions options;
  options.endpoint = std::get<RedisEndpoint>(parsed);
  options.command_timeout = std::chrono::seconds(10);

  asio::io_context loop;
  RedisConnection commands(loop.get_executor(), options);
  RedisConnection claims(loop.get_executor(), options);
  commands.start();
  claims.start();
  if (run_once(loop, commands.wait_ready(std::chrono::seconds(5))) ||
      run_once(loop, claims.wait_ready(std::chrono::seconds(5)))) {
    std::fprintf(stderr, "cannot connect: %s\n", commands.health().last_error.c_str());
    return 1;
  }
  RedisJobs jobs(commands, claims);
  const auto check = run_once(loop, jobs.check_server());
  for (const auto& warning : check.value.warnings) std::printf("warning: %s\n", warning.c_str());
  const Command info = Command::of("INFO", "commandstats");
  const Command reset = Command::of("CONFIG", "RESETSTAT");
  using Answer = std::tuple<std::error_code, Reply>;
  run_once<Answer>(loop, commands.command(reset, asio::as_tuple(asio::use_awaitable)));
  const auto trips_before = commands.health().commands + claims.health().commands;

  Run run;
  const auto start = Clock::now();
  run.workers = window;
  for (int i = 0; i < window; ++i) asio::co_spawn(loop, worker(jobs, run, total, i), asio::detached);
  loop.restart();
  while (run.workers > 0) loop.run_one();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const auto trips = commands.health().commands + claims.health().commands - trips_before;
  const auto [info_ec, stats] =
      run_once<Answer>(loop, commands.command(info, asio::as_tuple(asio::use_awaitable)));
  const long long executed = commands_executed(stats.text()) - 1;  // less the RESETSTAT
  std::printf(
      "jobs=%ld window=%d errors=%ld jobs_per_s=%.0f round_trips_per_job=%.2f redis_commands_per_job=%.1f\n",
      run.finished, window, run.errors, static_cast<double>(run.finished) / seconds,
      static_cast<double>(trips) / static_cast<double>(run.finished),
      static_cast<double>(executed) / static_cast<double>(run.finished));
  commands.stop();
  claims.stop();
  loop.restart();
  loop.run();
  return run.errors == 0 ? 0 : 1;
}
