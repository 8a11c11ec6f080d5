// Command line and environment to Config, with CLI11. Durations and sizes are read as text and
// converted here, so a bad value stops jobd with a message that names the flag.
#include <CLI/CLI.hpp>
#include <iostream>
#include <thread>

#include "config/config.hpp"

namespace jobd::config {

namespace {

struct Duration {
  std::string text;
  milliseconds* target;
  const char* flag;
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
  CLI::App app{"jobd: an HTTP job server (loop, thread, process and subprocess executors)", "jobd"};
  app.set_version_flag("--version", "jobd 0.1.0");
  app.get_formatter()->column_width(34);

  std::string listen = "127.0.0.1:8080";
  std::string log_format = "text";
  std::vector<Duration> durations;
  std::vector<Size> sizes;
  std::uint64_t max_header = config.max_header;
  std::uint64_t max_body = config.max_body;

  auto add = [&](const std::string& flag, auto& target, const std::string& help) {
    return app.add_option(flag, target, help)->envname(env_name(flag))->capture_default_str();
  };
  auto add_duration = [&](const char* flag, milliseconds& target) {
    durations.push_back({std::to_string(target.count()) + "ms", &target, flag});
  };
  add("--listen", listen, "HOST:PORT to listen on ([::1]:8080 for IPv6; port 0 = any free port)");
  add("--port-file", config.port_file, "write the bound port to this file once listening");
  add("--threads", config.threads, "thread pool size (0 = hardware threads)");
  add("--thread-nice", config.thread_nice, "niceness added to pool threads (0..19)")
      ->check(CLI::Range(0, 19));
  add("--queue-depth", config.queue_depth, "jobs an executor queues beyond those running; full = 429")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24));
  add("--loop-jobs", config.loop_jobs, "loop-executor jobs in flight at once; beyond = 429")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24));
  add("--max-connections", config.max_connections, "open connections; beyond, new ones get 503")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24));
  add("--max-jobs", config.max_jobs, "finished jobs kept; the oldest are evicted beyond")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 26));
  add("--max-json-depth", config.max_json_depth, "deepest nesting of a JSON body")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  add("--log-level", config.log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  add("--log-format", log_format, "text or json (one JSON object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--test-kinds", config.test_kinds, "enable fault-injection kinds (for tests only)")
      ->envname("JOBD_TEST_KINDS");

  add_duration("--header-timeout", config.header_timeout);
  add_duration("--body-timeout", config.body_timeout);
  add_duration("--idle-timeout", config.idle_timeout);
  add_duration("--drain-timeout", config.drain_timeout);
  add_duration("--retention", config.retention);
  add_duration("--default-timeout", config.default_timeout);
  add_duration("--max-timeout", config.max_timeout);
  add_duration("--max-wait", config.max_wait);
  const std::pair<const char*, const char*> duration_help[] = {
      {"--header-timeout", "time to receive a request's headers once it started"},
      {"--body-timeout", "time to receive a request body"},
      {"--idle-timeout", "keep-alive connection idle time before it is closed (also bounds a write)"},
      {"--drain-timeout", "on SIGTERM, how long running jobs may finish before they are cancelled"},
      {"--retention", "how long finished jobs are kept"},
      {"--default-timeout", "job timeout when the job names none"},
      {"--max-timeout", "largest timeout_ms a job may ask for"},
      {"--max-wait", "largest ?wait= of a request"}};
  for (std::size_t i = 0; i < durations.size(); ++i) {
    add(durations[i].flag, durations[i].text,
        std::string(duration_help[i].second) + " (250ms, 5s, 2m, 1h or seconds)");
  }
  sizes.push_back({std::to_string(max_body), &max_body, "--max-body"});
  sizes.push_back({std::to_string(max_header), &max_header, "--max-header"});
  add("--max-body", sizes[0].text, "largest request body (512k, 1m or bytes); beyond = 413");
  add("--max-header", sizes[1].text, "largest request header section; beyond = 431");

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
  if (config.threads == 0) config.threads = std::max(1u, std::thread::hardware_concurrency());
  for (auto* timeout : {&config.header_timeout, &config.body_timeout, &config.idle_timeout}) {
    if (timeout->count() == 0) {
      std::cerr << "jobd: connection timeouts must be greater than 0\n";
      return 2;
    }
  }
  return config;
}

}  // namespace jobd::config
