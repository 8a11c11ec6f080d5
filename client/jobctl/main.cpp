// jobctl: the command line of jobd. Wires CLI11 to the subcommands in commands.cpp and bench.cpp
// and turns whatever escapes them into an exit code (exit_codes.hpp) and one line on stderr.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <stdexcept>

#include "commands.hpp"
#include "exit_codes.hpp"

namespace {

constexpr const char* kFooter = R"(
Environment: JOBD_URL (--url), JOBD_TOKEN (--token).
Exit codes: 0 succeeded; 1 the job failed, was cancelled, timed out, or was still unfinished when
the wait ran out (bench: not every job succeeded); 2 bad command line; 3 the server refused the
request or could not be reached.)";

}  // namespace

int run_jobctl(int argc, char** argv) {
  using namespace jobd::jobctl;
  CLI::App app{"jobctl: submit, follow and load-test jobs on a jobd server", "jobctl"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand: jobctl get ID --json
  app.footer(kFooter);

  Globals globals;
  app.add_option("--url", globals.client.url, "jobd's address, http://host:port[/prefix]")
      ->envname("JOBD_URL")
      ->capture_default_str();
  app.add_option("--token", globals.client.token, "bearer token sent as Authorization")
      ->envname("JOBD_TOKEN");
  app.add_flag("--json", globals.json, "machine output: the server's JSON, one document per line");

  SubmitArgs submit_args;
  auto* submit = app.add_subcommand("submit", "submit a job (prints its id; with --wait, the finished job)");
  submit->add_option("kind", submit_args.kind, "job kind (see: jobctl kinds)")->required();
  submit
      ->add_option("--param,-p", submit_args.params, "a parameter; VALUE is JSON if it parses, else a string")
      ->type_name("NAME=VALUE")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  submit->add_option("--params", submit_args.params_json, "all parameters as a JSON object")
      ->type_name("JSON");
  submit->add_option("--input", submit_args.input,
                     "the job's input: @FILE, @- for stdin, or the text itself");
  submit->add_option("--executor,-e", submit_args.executor, "loop, thread, process or subprocess");
  submit->add_option("--timeout", submit_args.timeout, "the job's deadline, e.g. 30s")->type_name("DURATION");
  auto* wait_flag = submit
                        ->add_option("--wait,-w", submit_args.wait_for,
                                     "wait for the job to finish, at most DURATION if given")
                        ->type_name("[DURATION]")
                        ->expected(0, 1);
  submit->add_option("--idempotency-key", submit_args.idempotency_key,
                     "resubmitting with the same key is a no-op");
  submit
      ->add_option("--max-attempts", submit_args.max_attempts,
                   "run up to N times: a crash or timeout is retried with backoff (1-20)")
      ->type_name("N")
      ->check(CLI::Range(1, 20));
  submit->add_option("--retry-delay", submit_args.retry_delay, "base of the retry backoff, e.g. 500ms")
      ->type_name("DURATION");
  submit->add_option("--delay", submit_args.delay, "run no sooner than DURATION from now, e.g. 10m")
      ->type_name("DURATION");
  submit->add_option("--run-at", submit_args.run_at, "run no sooner than this RFC 3339 time")
      ->type_name("TIME");

  std::string job_id;
  auto* get = app.add_subcommand("get", "show a job");
  get->add_option("id", job_id, "job id")->required();

  std::string wait_limit;
  auto* wait = app.add_subcommand("wait", "wait until a job has finished and show it");
  wait->add_option("id", job_id, "job id")->required();
  wait->add_option("--timeout", wait_limit, "give up after DURATION (exit code 1)")->type_name("DURATION");

  auto* cancel = app.add_subcommand("cancel", "cancel a job");
  cancel->add_option("id", job_id, "job id")->required();

  ListArgs list_args;
  auto* list = app.add_subcommand("list", "list jobs, newest first");
  list->add_option("--state", list_args.state, "queued, running, succeeded, failed, cancelled or timed_out");
  list->add_option("--kind", list_args.kind, "only jobs of this kind");
  list->add_option("--limit", list_args.limit, "jobs per page (server default if not given)");
  list->add_option("--cursor", list_args.cursor, "continue after a previous page");
  list->add_flag("--all", list_args.all, "follow the cursor through every page");
  list->add_flag("--full", list_args.full,
                 "whole records with --json (params, result, output), not summaries");

  auto* kinds = app.add_subcommand("kinds", "list the job kinds the server offers");

  auto* watch = app.add_subcommand("watch", "follow a job's events (state, progress, output) until it ends");
  watch->add_option("id", job_id, "job id")->required();

  auto* health = app.add_subcommand("health", "check /healthz and /readyz");

  auto* backup = app.add_subcommand(
      "backup", "have the server write a copy of its job store into its --backup-dir, and print its path");

  BenchArgs bench_args;
  auto* bench = app.add_subcommand("bench", "load-test: submit jobs over C connections and report");
  bench->add_option("kind", bench_args.kind, "job kind")->required();
  bench->add_option("--params", bench_args.params_json, "parameters as a JSON object")->type_name("JSON");
  bench->add_option("--param,-p", bench_args.params, "a parameter, as for submit")
      ->type_name("NAME=VALUE")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  bench->add_option("-n,--jobs", bench_args.jobs, "jobs to submit (default 1000 without --duration)");
  bench->add_option("-c,--connections", bench_args.connections, "concurrent keep-alive connections")
      ->capture_default_str();
  bench->add_option("--executor,-e", bench_args.executor, "loop, thread, process or subprocess");
  bench->add_option("--duration,-d", bench_args.duration, "stop submitting after DURATION")
      ->type_name("DURATION");
  bench->add_option("--wait", bench_args.wait, "?wait= of each submit and long poll (at most 60s)")
      ->type_name("DURATION")
      ->capture_default_str();
  bench->add_option("--timeout", bench_args.timeout, "each job's deadline")->type_name("DURATION");
  bench->add_flag("--quiet,-q", bench_args.quiet, "no progress line");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help
    return fail(kExitUsage, std::string(error.what()) + " (see jobctl --help)");
  }

  try {
    if (submit->parsed()) {
      submit_args.wait = wait_flag->count() > 0;
      return run_submit(globals, submit_args);
    }
    if (get->parsed()) return run_get(globals, job_id);
    if (wait->parsed()) return run_wait(globals, job_id, wait_limit);
    if (cancel->parsed()) return run_cancel(globals, job_id);
    if (list->parsed()) return run_list(globals, list_args);
    if (kinds->parsed()) return run_kinds(globals);
    if (watch->parsed()) return run_watch(globals, job_id);
    if (health->parsed()) return run_health(globals);
    if (backup->parsed()) return run_backup(globals);
    if (bench->parsed()) return run_bench(globals, bench_args);
  } catch (const std::invalid_argument& error) {
    return fail(kExitUsage, error.what());  // a --url that does not parse, bad bench options
  } catch (const std::exception& error) {
    return fail(kExitServerError, error.what());
  }
  return fail(kExitUsage, "no subcommand (see jobctl --help)");
}

int main(int argc, char** argv) {
  // Setting up the command line can throw too (std::bad_alloc): still one line and an exit code.
  try {
    return run_jobctl(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "jobctl: %s\n", error.what());
  } catch (...) {
    std::fprintf(stderr, "jobctl: unknown error\n");
  }
  return jobd::jobctl::kExitServerError;
}
