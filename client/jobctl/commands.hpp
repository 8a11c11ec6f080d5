// The subcommands of jobctl, each a function from parsed options to an exit code. They print
// results to stdout (a human table, or the server's JSON with --json) and failures as one line
// on stderr; main.cpp only wires CLI11 to them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jobd/client/client.hpp"

namespace jobd::jobctl {

struct Globals {
  client::ClientOptions client;
  bool json = false;
};

struct SubmitArgs {
  std::string kind;
  std::vector<std::string> params;  // --param k=v, applied over --params
  std::string params_json;          // --params
  std::string input;                // --input
  std::string executor;
  std::string timeout;   // --timeout (job's timeout_ms)
  bool wait = false;     // --wait given
  std::string wait_for;  // its optional duration ("" = until done)
  std::string idempotency_key;
  int max_attempts = 0;     // --max-attempts (0: not sent, the server's default 1)
  std::string retry_delay;  // --retry-delay (the job's retry_delay_ms)
  std::string delay;        // --delay (delay_ms)
  std::string run_at;       // --run-at (RFC 3339, sent as given)
};

struct ListArgs {
  std::string state;
  std::string kind;
  std::size_t limit = 0;
  std::string cursor;
  bool all = false;
  bool full = false;  // whole records (?fields=full) instead of summaries
};

struct BenchArgs {
  std::string kind;
  std::string params_json = "{}";
  std::vector<std::string> params;
  std::string executor;
  std::string timeout;
  std::uint64_t jobs = 0;
  std::size_t connections = 10;
  std::string duration;
  std::string wait = "30s";
  bool quiet = false;
};

int run_submit(const Globals& globals, const SubmitArgs& args);
int run_get(const Globals& globals, const std::string& id);
int run_wait(const Globals& globals, const std::string& id, const std::string& limit);
int run_cancel(const Globals& globals, const std::string& id);
int run_list(const Globals& globals, const ListArgs& args);
int run_kinds(const Globals& globals);
int run_watch(const Globals& globals, const std::string& id);
int run_health(const Globals& globals);
int run_backup(const Globals& globals);
int run_bench(const Globals& globals, const BenchArgs& args);

// Shared by the commands: one line "jobctl: <message>" on stderr, and the exit code given.
int fail(int code, const std::string& message);

}  // namespace jobd::jobctl
