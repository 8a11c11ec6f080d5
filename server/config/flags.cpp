// Command line and environment to Config, with CLI11. Durations and sizes are read as text and
// converted here, so a bad value stops jobd with a message that names the flag.
#include <CLI/CLI.hpp>
#include <iostream>

#include "config/checks.hpp"
#include "config/config.hpp"
#include "config/cpus.hpp"

namespace jobd::config {

namespace {

struct Duration {
  std::string text;
  milliseconds* target;
  const char* flag;
  const char* help;
};
struct Size {
  std::string text;
  std::uint64_t* target;
  const char* flag;
};

std::string env_name(const std::string& flag) {
  std::string name = "JOBD_";
  for (char c : flag.substr(2)) name += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

}  // namespace

ParseResult parse_command_line(int argc, char** argv) {
  Config config;
  config.cpus = cpu_budget();
  const unsigned usable_cpus = config.cpus.usable();
  // At least two of each even on one CPU: a long job then shares the core with the next short
  // one rather than holding every job of its executor behind it, and a crashed worker's jobs
  // go on while it is replaced.
  const unsigned pool_size = std::max(2u, usable_cpus);
  CLI::App app{"jobd: an HTTP job server (loop, thread, process and subprocess executors)", "jobd"};
  app.set_version_flag("--version", "jobd 0.1.0");
  app.get_formatter()->column_width(34);

  std::string listen = "127.0.0.1:8080";
  std::string log_format = "text";
  std::string durability = "process";
  std::string insert_hold = "auto";
  std::string thread_policy = "normal";
  std::string worker_policy = "normal";
  std::vector<Duration> durations;
  std::vector<Size> sizes;
  std::uint64_t max_header = config.max_header;
  std::uint64_t max_body = config.max_body;

  auto add = [&](const std::string& flag, auto& target, const std::string& help) {
    return app.add_option(flag, target, help)->envname(env_name(flag))->capture_default_str();
  };
  auto add_duration = [&](const char* flag, milliseconds& target, const char* help) {
    durations.push_back({format_duration(target), &target, flag, help});
  };
  add("--listen", listen,
      "HOST:PORT to listen on (an address, [::1]:8080 for IPv6, or a host name; port 0 = any free port)");
  add("--port-file", config.port_file, "write the bound port to this file once listening");
  add("--threads", config.threads,
      "thread pool size (0 = the CPUs jobd may use, by affinity and cgroup quota; at least 2)");
  add("--thread-nice", config.thread_nice, "niceness added to pool threads (0..19)")
      ->check(CLI::Range(0, 19));
  add("--thread-policy", thread_policy,
      "scheduling of pool threads: normal (by --thread-nice), batch, or idle (they run only on a CPU "
      "nothing else wants: the loop and other processes always preempt them)")
      ->check(CLI::IsMember({"normal", "batch", "idle"}));
  // Only with two CPUs or more: on one, the loop and the pool share the core, and a pool thread that
  // yields every few milliseconds halved thread jobs/s (the loop, put first, runs until it blocks
  // while the jobs wait; bench/RESULTS.md, stop 33), which a faster /healthz does not repay.
  config.thread_yield_us = usable_cpus > 1 ? 500 : 0;
  add("--thread-yield-us", config.thread_yield_us,
      "microseconds a pool thread runs CPU-bound jobs before it yields the CPU at a job's checkpoint, so "
      "that the loop does not wait for the scheduler's next tick behind it (default: 500 with two CPUs or "
      "more, 0 = never with one)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1'000'000}));
  config.workers = pool_size;
  add("--workers", config.workers,
      "worker processes of the process executor (default: the CPUs jobd may use, at least 2; 0 = no process "
      "executor)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{4096}));
  add("--worker-cpu", config.worker_cpu,
      "CPU seconds a job may use in a worker (0 = no limit; SIGXCPU kills it)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 31));
  add("--worker-files", config.worker_files, "open-file limit of a worker (RLIMIT_NOFILE)")
      ->check(CLI::Range(std::uint64_t{16}, std::uint64_t{1} << 20));
  add("--worker-max-jobs", config.worker_max_jobs,
      "jobs a worker runs before it is replaced (0 = never; 1 = fresh process per job)");
  add("--worker-pipeline", config.worker_pipeline,
      "jobs a worker holds while jobs wait: the one it runs and up to N-1 sent ahead, started one "
      "after the other without a round trip (1 = one at a time)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64}));
  add("--worker-policy", worker_policy,
      "scheduling of worker processes: normal, batch (a worker woken by a job does not preempt the "
      "loop), or idle (they run only on a CPU nothing else wants: the loop and other processes always "
      "preempt them)")
      ->check(CLI::IsMember({"normal", "batch", "idle"}));
  // Off by default, unlike the pool's: workers run at the loop's own weight, so a loop that gets
  // the CPU at once also gets more of it, which cost short process jobs ~7 % of their rate on two
  // CPUs and long ones a third while the loop was flooded (bench/RESULTS.md, stop 34).
  add("--worker-yield-us", config.worker_yield_us,
      "microseconds a worker process runs a CPU-bound job before it yields the CPU at the job's "
      "checkpoint, as --thread-yield-us does for pool threads (0 = never, the default)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1'000'000}));
  add("--queue-depth", config.queue_depth, "jobs an executor queues beyond those running; full = 429")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24));
  add("--loop-jobs", config.loop_jobs, "loop-executor jobs in flight at once; beyond = 429")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24));
  add("--max-connections", config.max_connections, "open connections; beyond, new ones get 503")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24));
  add("--max-jobs", config.max_jobs, "finished jobs kept; the oldest are evicted beyond")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 26));
  add("--max-waiting-jobs", config.max_waiting_jobs,
      "delayed jobs and jobs waiting to retry held at once; a delayed submit beyond = 429")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 26));
  add("--max-json-depth", config.max_json_depth, "deepest nesting of a JSON body")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  add("--max-list-limit", config.max_list_limit, "largest ?limit= of GET /v1/jobs (jobs per page)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  add("--log-level", config.log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  add("--log-format", log_format, "text or json (one JSON object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  add("--store", config.store,
      "where jobs are kept: sqlite:PATH (a file; kept across restarts), memory: (lost at exit), or "
      "redis://HOST:PORT[/DB] / redis+unix:///PATH (replicas sharing their jobs; password from "
      "JOBD_REDIS_PASSWORD or JOBD_REDIS_PASSWORD_FILE)");
  add("--replica-id", config.replica_id,
      "with --store redis://: this replica's name among those sharing the store (default hostname:pid)");
  add("--redis-prefetch", config.redis_prefetch,
      "with --store redis://: jobs claimed beyond an executor's free workers, queued here while the next "
      "claim is under way (-1 = as many as it has workers; 0 = none)")
      ->check(CLI::Range(std::int64_t{-1}, std::int64_t{4096}));
  add("--durability", durability,
      "what a committed job survives: process (a kill -9 or crash of jobd) or machine (power loss too: "
      "an fsync per commit)")
      ->check(CLI::IsMember({"process", "machine"}));
  add("--backup-dir", config.backup_dir,
      "with --store sqlite:PATH: the directory POST /v1/store/backup writes consistent copies of the store "
      "to, while jobs go on (empty: backups are off)");
  add("--backup-keep", config.backup_keep,
      "copies kept in --backup-dir: each new one deletes the oldest beyond")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000}));
  add("--config", config.command_config, "JSON file of subprocess command kinds (docker/commands.json)");
  add("--max-subprocesses", config.max_subprocesses,
      "subprocess jobs running at once (0 = 4 x the CPUs jobd may use); beyond, they queue")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 16));
  add("--event-history", config.event_history, "events kept per job for SSE resume (Last-Event-ID)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  add("--sse-buffer", config.sse_buffer,
      "events queued per SSE subscriber; beyond, they are counted as dropped")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  app.add_flag("--access-log", config.access_log, "log one line per request")->envname("JOBD_ACCESS_LOG");
  app.add_flag("--metrics,!--no-metrics", config.metrics,
               "collect metrics and sample loop lag (--no-metrics only to measure their cost)")
      ->envname("JOBD_METRICS");
  add("--token-file", config.token_file, "require Authorization: Bearer <token> on /v1 (one token per line)");
  app.add_flag("--metrics-public", config.metrics_public, "with --token-file: serve /metrics without a token")
      ->envname("JOBD_METRICS_PUBLIC");
  app.add_flag("--test-kinds", config.test_kinds, "enable fault-injection kinds (for tests only)")
      ->envname("JOBD_TEST_KINDS");

  add_duration("--header-timeout", config.header_timeout,
               "time to receive a request's headers once it started");
  add_duration("--body-timeout", config.body_timeout, "time to receive a request body");
  add_duration("--idle-timeout", config.idle_timeout,
               "keep-alive connection idle time before it is closed (also bounds a write)");
  add_duration("--drain-timeout", config.drain_timeout,
               "on SIGTERM, how long running jobs may finish before they are cancelled");
  add_duration("--retention", config.retention, "how long finished jobs are kept");
  add_duration("--default-timeout", config.default_timeout, "job timeout when the job names none");
  add_duration("--max-timeout", config.max_timeout, "largest timeout_ms a job may ask for");
  add_duration("--max-wait", config.max_wait, "largest ?wait= of a request");
  add_duration("--retry-max-delay", config.retry_max_delay, "cap of one retry's backoff delay");
  add_duration("--redis-lease", config.redis_lease,
               "with --store redis://: how long a claimed job is kept without renewal before another "
               "replica takes it over");
  add_duration("--sse-heartbeat", config.sse_heartbeat, "comment sent on an idle event stream this often");
  add_duration("--slow-handler", config.slow_handler,
               "log a warning when the event loop is held longer than this");
  add_duration("--kill-grace", config.kill_grace,
               "time a subprocess group gets between SIGTERM and SIGKILL (and, at shutdown, a thread job "
               "past the drain timeout)");
  for (auto& duration : durations) {
    std::string help = std::string(duration.help) + " (250ms, 5s, 2m, 1h or seconds";
    for (const auto& bound : duration_bounds()) {
      if (std::string_view(bound.flag) == duration.flag) {
        help += "; " + format_duration(bound.min) + " to " + format_duration(bound.max);
      }
    }
    add(duration.flag, duration.text, help + ")");
  }
  // Its default follows --durability: holding pays where a commit is an fsync (bench/RESULTS.md,
  // stop 37), and cost process jobs of a lone client 2-17 % where it is not.
  add("--insert-hold", insert_hold,
      "with a durable store: how long a submit with ?wait (and no idempotency_key) holds its job's insert "
      "back, so that a job ending by then is written once, final (auto: 5ms with --durability machine, "
      "else 0, which writes it at once; or 250ms, 5s or seconds; 0s to 1m)");
  sizes.push_back({format_size(max_body), &max_body, "--max-body"});
  sizes.push_back({format_size(max_header), &max_header, "--max-header"});
  sizes.push_back({"1g", &config.worker_memory, "--worker-memory"});
  sizes.push_back({format_size(config.max_list_bytes), &config.max_list_bytes, "--max-list-bytes"});
  sizes.push_back(
      {format_size(config.max_retained_bytes), &config.max_retained_bytes, "--max-retained-bytes"});
  add("--max-body", sizes[0].text, "largest request body (512k, 1m or bytes); beyond = 413");
  add("--max-header", sizes[1].text, "largest request header section; beyond = 431");
  add("--worker-memory", sizes[2].text, "address-space limit of a worker process (RLIMIT_AS; 256m, 1g)");
  add("--max-list-bytes", sizes[3].text,
      "a page of GET /v1/jobs ends early, with a cursor, before passing this (it always has one job)");
  add("--max-retained-bytes", sizes[4].text,
      "params, results and output of finished jobs kept; the oldest are evicted beyond");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      app.exit(e);
      return 0;
    }
    std::cerr << "jobd: " << e.what() << " (see --help)\n";
    return 2;
  }
  for (auto& duration : durations) {
    auto value = parse_duration(duration.text);
    if (!value) {
      std::cerr << "jobd: " << duration.flag << ": bad duration '" << duration.text
                << "' (use 250ms, 5s, 2m, 1h or a number of seconds)\n";
      return 2;
    }
    *duration.target = *value;
  }
  for (auto& size : sizes) {
    auto value = parse_size(size.text);
    if (!value || *value == 0) {
      std::cerr << "jobd: " << size.flag << ": bad size '" << size.text
                << "' (use 512k, 1m, 2g or a number of bytes)\n";
      return 2;
    }
    *size.target = *value;
  }
  config.max_body = max_body;
  config.max_header = max_header;
  auto address = parse_listen(listen);
  if (!address) {
    std::cerr << "jobd: --listen: bad address '" << listen << "' (use HOST:PORT or [V6]:PORT)\n";
    return 2;
  }
  config.listen = *address;
  config.log_format = log_format == "json" ? LogFormat::json : LogFormat::text;
  config.durability = durability == "machine" ? Durability::machine : Durability::process;
  if (insert_hold == "auto") {
    config.insert_hold = config.durability == Durability::machine ? kMachineInsertHold : milliseconds{0};
  } else if (auto hold = parse_duration(insert_hold)) {
    config.insert_hold = *hold;
  } else {
    std::cerr << "jobd: --insert-hold: bad duration '" << insert_hold
              << "' (use auto, 250ms, 5s, 2m, 1h or a number of seconds)\n";
    return 2;
  }
  const auto cpu_policy = [](const std::string& name) {
    return name == "idle" ? CpuPolicy::idle : name == "batch" ? CpuPolicy::batch : CpuPolicy::normal;
  };
  config.thread_policy = cpu_policy(thread_policy);
  config.worker_policy = cpu_policy(worker_policy);
  if (config.threads == 0) config.threads = pool_size;
  if (config.max_subprocesses == 0) {
    config.max_subprocesses = 4 * std::size_t{usable_cpus};
  }
  if (auto problem = check_config(config)) {
    std::cerr << "jobd: " << *problem << "\n";
    return 2;
  }
  return config;
}

}  // namespace jobd::config
