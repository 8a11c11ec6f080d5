// redis_roundtrip: commands per second through jobd's Redis client (store/redis), pipelined
// over one connection, to set beside redis-benchmark's figure for the same command.
//
// Sends `commands` SETs of a 3-byte value to one key (what `redis-benchmark -t set` sends),
// keeping `window` in flight: each reply sends the next (a sliding window, where redis-benchmark
// -P sends and waits in batches). Two drivers: callbacks (the cheapest way through the API) and
// coroutines (`window` coroutines each looping `co_await redis.command(set)`, as the store will).
// Prints commands/s and the client's CPU per command (the loop is one thread, so CPU per command
// is its cost on the loop, whatever the machine's load).
//
// Build: part of the CMake build (target redis_roundtrip).
// Run:   build/bench/redis_roundtrip URI [commands=200000] [window=16]
//        e.g. redis-server --port 6399 --save '' --appendonly no &   (stop it by its PID)
//             build/bench/redis_roundtrip redis://127.0.0.1:6399 200000 16
//             redis-benchmark -p 6399 -t set -n 200000 -P 16 -c 1 -q
//
// Measured 2026-11-28 (2-vCPU VM shared with other builds, load average 3.6-3.9; Redis 7.0.15
// on 127.0.0.1 without persistence; medians of 5 interleaved runs of 200,000 SETs):
//   1 connection, 16 in flight:   callbacks 376k/s, coroutines 335k/s;
//                                 redis-benchmark -P 16 -c 1: 517k/s
//   1 connection, 800 in flight:  callbacks 485k/s, coroutines 450k/s;
//                                 redis-benchmark -P 16 -c 50 (50 connections, 800 in flight): 548k/s
//   client CPU per command: 1.0-1.7 us (reply conversion, a posted completion, hiredis's parse)
// Writing without asking epoll first (posting the write once connected) was tried and dropped:
// Asio polls epoll before running a posted handler, so the syscalls per batch stayed at six
// and no run was faster.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>

#include "store/redis/connection.hpp"

namespace {

using namespace jobd::store::redis;
using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Run {
  long sent = 0;
  long done = 0;
  long errors = 0;
};

// Callbacks: each completion sends the next command until `total` were sent.
void send_next(RedisConnection& redis, const Command& set, Run& run, long total) {
  if (run.sent >= total) return;
  ++run.sent;
  redis.command(set, [&redis, &set, &run, total](std::error_code ec, const Reply&) {
    ++run.done;
    if (ec) ++run.errors;
    send_next(redis, set, run, total);
  });
}

asio::awaitable<void> worker(RedisConnection& redis, const Command& set, Run& run, long total) {
  while (run.sent < total) {
    ++run.sent;
    auto [ec, reply] = co_await redis.command(set);
    ++run.done;
    if (ec) ++run.errors;
  }
}

void report(const char* driver, long commands, long window, const Run& run, Clock::duration wall,
            double cpu) {
  const double seconds = std::chrono::duration<double>(wall).count();
  std::printf(
      "driver=%s commands=%ld window=%ld errors=%ld commands_per_s=%.0f client_cpu_us_per_command=%.2f\n",
      driver, commands, window, run.errors, static_cast<double>(run.done) / seconds,
      cpu * 1e6 / static_cast<double>(run.done));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URI [commands=200000] [window=16]\n", argv[0]);
    return 2;
  }
  auto parsed = parse_redis_uri(argv[1]);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    std::fprintf(stderr, "%s\n", error->c_str());
    return 2;
  }
  const long commands = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 200'000;
  const long window = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 16;
  spdlog::set_level(spdlog::level::warn);
  RedisOptions options;
  options.endpoint = std::get<RedisEndpoint>(parsed);
  auto loaded = load_redis_password_from_environment();
  if (auto* error = std::get_if<std::string>(&loaded)) {
    std::fprintf(stderr, "%s\n", error->c_str());
    return 2;
  }
  options.password = std::get<Secret>(loaded);
  options.command_timeout = std::chrono::seconds(10);

  asio::io_context loop;
  RedisConnection redis(loop.get_executor(), options);
  redis.start();
  std::error_code ready;
  asio::co_spawn(loop, redis.wait_ready(std::chrono::seconds(5)),
                 [&](const std::exception_ptr&, std::error_code ec) {
                   ready = ec;
                   loop.stop();
                 });
  loop.run();
  if (ready) {
    std::fprintf(stderr, "cannot connect: %s (%s)\n", ready.message().c_str(),
                 redis.health().last_error.c_str());
    return 1;
  }
  const Command set = Command::of("SET", "key:__rand_int__", "xxx");

  for (const char* driver : {"callbacks", "coroutines"}) {
    Run run;
    loop.restart();
    const double cpu_before = cpu_seconds();
    const auto start = Clock::now();
    for (long i = 0; i < window; ++i) {
      if (std::string(driver) == "callbacks") {
        send_next(redis, set, run, commands);
      } else {
        asio::co_spawn(loop, worker(redis, set, run, commands), asio::detached);
      }
    }
    while (run.done < commands) loop.run_one();
    report(driver, commands, window, run, Clock::now() - start, cpu_seconds() - cpu_before);
  }
  const RedisHealth health = redis.health();
  std::printf("rtt_ewma_us=%lld in_flight_peak=%zu\n", static_cast<long long>(health.rtt_ewma.count()),
              health.in_flight_peak);
  redis.stop();
  loop.restart();
  loop.run();
  return 0;
}
