// Config: every setting of jobd, with its default. Each is a flag with an environment twin
// (JOBD_<FLAG>); the table in README.md lists them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "config/cpus.hpp"
#include "config/units.hpp"

namespace jobd::config {

using std::chrono::milliseconds;

enum class LogFormat { text, json };

// --insert-hold's default with --durability machine (bench/RESULTS.md, stop 37).
inline constexpr milliseconds kMachineInsertHold{5};

// What a committed job survives (--durability; README): a kill -9 of jobd, or a power loss.
enum class Durability { process, machine };

// How CPU work is scheduled against the loop: the thread pool's threads (--thread-policy) and
// the process executor's workers (--worker-policy); README.
enum class CpuPolicy { normal, batch, idle };

// The default --store: a SQLite file in the working directory.
inline constexpr const char* kDefaultStore = "sqlite:jobd.db";

struct Config {
  ListenAddress listen{"127.0.0.1", 8080};
  std::string port_file;    // written with the bound port once listening (tests use port 0)
  CpuBudget cpus;           // the CPUs jobd may use (config/cpus.hpp): the defaults below follow it
  std::size_t threads = 0;  // thread pool size; 0 = usable CPUs, at least 2
  int thread_nice = 10;     // added niceness of pool threads: the loop wins the CPU
  CpuPolicy thread_policy = CpuPolicy::normal;
  std::uint64_t thread_yield_us = 500;  // pool threads yield the CPU this often (us); 0 = never
  std::size_t workers = 0;  // process executor's workers (flag default: usable CPUs, at least 2); 0 = none
  std::uint64_t worker_memory = std::uint64_t{1} << 30;  // RLIMIT_AS of a worker
  std::uint64_t worker_cpu = 0;                          // CPU seconds per job in a worker; 0 = no limit
  std::uint64_t worker_files = 256;                      // RLIMIT_NOFILE of a worker
  std::uint64_t worker_max_jobs = 0;                     // recycle a worker after this many jobs; 0 = never
  CpuPolicy worker_policy = CpuPolicy::normal;           // how workers share the CPU with the loop
  std::uint64_t worker_yield_us = 0;                     // workers yield the CPU this often (us); 0 = never
  std::size_t worker_pipeline = 4;                       // jobs a worker holds: running and sent ahead
  std::size_t queue_depth = 1024;                        // per executor: jobs waiting beyond the running ones
  std::size_t loop_jobs = 10000;                         // loop jobs in flight at once
  std::uint64_t max_body = 1 << 20;
  std::uint64_t max_header = 16 << 10;
  std::size_t max_json_depth = 64;
  std::size_t max_list_limit = 1000;              // largest ?limit= of GET /v1/jobs
  std::uint64_t max_list_bytes = 4 << 20;         // a page of GET /v1/jobs ends before passing this
  std::uint64_t max_retained_bytes = 1ull << 30;  // finished jobs' texts kept (oldest evicted first)
  milliseconds header_timeout{10'000};
  milliseconds body_timeout{30'000};
  milliseconds idle_timeout{60'000};
  std::size_t max_connections = 10'000;
  milliseconds drain_timeout{30'000};
  milliseconds retention{3'600'000};
  std::size_t max_jobs = 100'000;  // finished jobs kept
  milliseconds default_timeout{300'000};
  milliseconds max_timeout{3'600'000};
  milliseconds max_wait{60'000};
  std::size_t event_history = 1024;  // events kept per job for SSE resume
  std::size_t sse_buffer = 1024;     // events queued per SSE subscriber before it drops
  milliseconds sse_heartbeat{15'000};
  milliseconds slow_handler{20};  // a loop stall longer than this is logged
  bool access_log = false;
  bool metrics = true;          // off only to measure what metrics and lag sampling cost
  std::string token_file;       // bearer tokens, one per line; empty = no authentication
  bool metrics_public = false;  // with --token-file: /metrics without a token
  std::string log_level = "info";
  LogFormat log_format = LogFormat::text;
  bool test_kinds = false;
  std::string command_config;             // --config: JSON file of subprocess command kinds
  std::size_t max_subprocesses = 0;       // subprocess jobs running at once; 0 = 4 x usable CPUs
  milliseconds kill_grace{2'000};         // SIGTERM -> SIGKILL of a subprocess job's process group
  milliseconds retry_max_delay{600'000};  // cap of one retry's backoff
  // --insert-hold: a ?wait submit's insert held for its final state; "auto" (the default) is
  // kMachineInsertHold with --durability machine, 0 (not held) with process.
  milliseconds insert_hold{0};
  std::size_t max_waiting_jobs =
      100'000;  // delayed or retry-waiting jobs held before a delayed submit gets 429
  std::string store =
      kDefaultStore;       // --store: memory:, sqlite:PATH, redis://HOST:PORT[/DB], redis+unix:///PATH
  std::string replica_id;  // --replica-id (redis): the consumer name; empty: hostname:pid
  milliseconds redis_lease{30'000};  // --redis-lease: a claimed job's lease (renewed every third)
  std::int64_t redis_prefetch = -1;  // --redis-prefetch: claimed beyond free workers; -1 = workers
  Durability durability = Durability::process;
  // --backup-dir: where POST /v1/store/backup writes copies of a sqlite store (empty: backups
  // off); --backup-keep: how many of them stay there (older ones are deleted).
  std::string backup_dir;
  std::size_t backup_keep = 3;
};

// What parsing the command line gave: a config to run with, or an exit code (after --help,
// --version, or a one-line error already printed to stderr).
using ParseResult = std::variant<Config, int>;

ParseResult parse_command_line(int argc, char** argv);

}  // namespace jobd::config
