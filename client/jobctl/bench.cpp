// `jobctl bench`: options to a LoadOptions, a live progress line while it runs, then the report.
#include <unistd.h>

#include <cstdio>

#include "args.hpp"
#include "commands.hpp"
#include "exit_codes.hpp"
#include "jobd/client/load.hpp"
#include "output.hpp"

namespace jobd::jobctl {

using namespace std::chrono_literals;

namespace {
// Job count when neither -n nor --duration is given.
constexpr std::uint64_t kDefaultBenchJobs = 1000;
// Refresh period of the progress line: often enough to look live on a terminal; when stderr is
// not a terminal (CI logs), a plain line per second keeps the log readable.
constexpr std::chrono::milliseconds kTerminalRefresh = 250ms;
constexpr std::chrono::milliseconds kPlainRefresh = 1000ms;
}  // namespace

int run_bench(const Globals& globals, const BenchArgs& args) {
  std::string error;
  nlohmann::json params = nlohmann::json::parse(args.params_json, nullptr, false);
  if (params.is_discarded() || !params.is_object()) {
    return fail(kExitUsage, "--params must be a JSON object, e.g. '{\"n\":1000}'");
  }
  for (const auto& assignment : args.params) {
    if (!apply_param(params, assignment, error)) return fail(kExitUsage, error);
  }
  client::LoadOptions options;
  options.spec = {{"kind", args.kind}, {"params", std::move(params)}};
  if (!args.executor.empty()) options.spec["executor"] = args.executor;
  if (!args.timeout.empty()) {
    auto timeout = parse_duration(args.timeout, error);
    if (!timeout) return fail(kExitUsage, "--timeout: " + error);
    options.spec["timeout_ms"] = timeout->count();
  }
  if (!args.duration.empty()) {
    auto duration = parse_duration(args.duration, error);
    if (!duration || duration->count() <= 0)
      return fail(kExitUsage, "--duration: " + (duration ? "must be positive" : error));
    options.duration = *duration;
  }
  auto wait = parse_duration(args.wait, error);
  if (!wait) return fail(kExitUsage, "--wait: " + error);
  if (*wait > client::kServerMaxWait) return fail(kExitUsage, "--wait: at most 60s (the server's limit)");
  options.wait = *wait;
  if (args.connections == 0) return fail(kExitUsage, "-c must be at least 1");
  options.connections = args.connections;
  options.jobs = args.jobs;
  if (options.jobs == 0 && options.duration.count() == 0) options.jobs = kDefaultBenchJobs;

  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  options.progress_interval = terminal ? kTerminalRefresh : kPlainRefresh;
  std::function<void(const client::LoadSnapshot&)> on_progress;
  if (!args.quiet) {
    on_progress = [&](const client::LoadSnapshot& snapshot) {
      const std::string line = format_progress(snapshot, options.jobs);
      if (terminal) {
        std::fprintf(stderr, "\r\033[K%s", line.c_str());  // rewrite the line in place
      } else {
        std::fprintf(stderr, "%s\n", line.c_str());
      }
      std::fflush(stderr);
    };
  }
  const client::LoadReport report = client::run_load(globals.client, options, on_progress);
  if (terminal && !args.quiet) std::fprintf(stderr, "\r\033[K");

  const std::string executor = args.executor.empty() ? "default executor" : args.executor;
  if (globals.json) {
    nlohmann::json out = report.to_json();
    out["kind"] = args.kind;
    out["executor"] = args.executor.empty() ? nlohmann::json(nullptr) : nlohmann::json(args.executor);
    out["connections"] = options.connections;
    out["jobs_requested"] = options.jobs;
    out["duration_s"] = std::chrono::duration<double>(options.duration).count();
    const std::string text = out.dump() + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::string title = "jobctl bench: " + args.kind + " on " + executor + ", " +
                        std::to_string(options.connections) + " connections";
    if (options.jobs > 0) title += ", " + std::to_string(options.jobs) + " jobs";
    if (options.duration.count() > 0) title += ", for " + args.duration;
    const std::string text = format_bench_report(report, title);
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  std::fflush(stdout);

  if (report.submitted > 0 && report.succeeded == report.submitted) return kExitSucceeded;
  if (report.accepted == 0 && report.refusals_by_status.empty()) {
    // Nothing reached the server: report the first network error.
    std::string reason = report.outcomes.empty() ? "no job was submitted" : report.outcomes.begin()->first;
    return fail(kExitServerError, reason);
  }
  return fail(kExitJobFailed, std::to_string(report.not_succeeded) + " of " +
                                  std::to_string(report.submitted) + " jobs did not succeed (see outcomes)");
}

}  // namespace jobd::jobctl
