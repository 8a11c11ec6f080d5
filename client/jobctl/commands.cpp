#include "commands.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "args.hpp"
#include "exit_codes.hpp"
#include "output.hpp"

namespace jobd::jobctl {

namespace {

using client::Reply;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A broken event stream is resumed (Last-Event-ID) this many times in a row before giving up.
constexpr int kWatchReconnects = 5;
constexpr std::chrono::milliseconds kWatchReconnectPause = 500ms;
// GET /v1/jobs page size for `list --all` (jobd's largest ?limit=).
constexpr std::size_t kListPageSize = 1000;

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);  // watch and scripts read line by line
}

void print_json(const nlohmann::json& value) { print(value.dump() + "\n"); }

// A non-2xx answer or a transport failure: the problem document on stdout for --json users,
// one line on stderr, exit code 3.
int refused(const Globals& globals, const Reply& reply) {
  if (globals.json && !reply.transport_failed()) {
    const nlohmann::json body = reply.json();
    if (!body.is_discarded()) print_json(body);
  }
  return fail(kExitServerError, reply.describe());
}

std::string state_of(const nlohmann::json& record) {
  return record.is_object() ? record.value("state", "") : "";
}

// 1 for a job that did not succeed; an unfinished one counts as such when it had to be final.
int exit_for(const nlohmann::json& record, bool must_be_final, const std::string& waited = {}) {
  const std::string state = state_of(record);
  const std::string id = record.is_object() ? record.value("id", "") : "";
  if (state == "succeeded") return kExitSucceeded;
  if (client::is_final_state(state)) {
    std::string reason;
    if (record.contains("error") && record["error"].is_object()) {
      reason = ": " + record["error"].value("type", "") + ": " + record["error"].value("message", "");
    }
    return fail(kExitJobFailed, "job " + id + " " + state + reason);
  }
  if (must_be_final) {
    return fail(kExitJobFailed,
                "job " + id + " is still " + state + (waited.empty() ? "" : " after " + waited));
  }
  return kExitSucceeded;
}

void show_job(const Globals& globals, const nlohmann::json& record) {
  if (globals.json) {
    print_json(record);
  } else {
    print(format_job(record));
  }
}

// The reply's job record, or nullopt (and the error printed) when it is not one.
std::optional<nlohmann::json> job_record(const Reply& reply) {
  nlohmann::json record = reply.json();
  if (!record.is_object() || !record.contains("id")) {
    fail(kExitServerError, "HTTP " + std::to_string(reply.status) + " without a job record");
    return std::nullopt;
  }
  return record;
}

bool build_params(const std::string& params_json, const std::vector<std::string>& assignments,
                  const std::string& input, nlohmann::json& params, std::string& error) {
  params = nlohmann::json::object();
  if (!params_json.empty()) {
    params = nlohmann::json::parse(params_json, nullptr, false);
    if (params.is_discarded() || !params.is_object()) {
      error = "--params must be a JSON object, e.g. '{\"n\":1000}'";
      return false;
    }
  }
  for (const auto& assignment : assignments) {
    if (!apply_param(params, assignment, error)) return false;
  }
  if (!input.empty() && !apply_input(params, input, error)) return false;
  return true;
}

}  // namespace

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "jobctl: %s\n", message.c_str());
  return code;
}

int run_submit(const Globals& globals, const SubmitArgs& args) {
  std::string error;
  nlohmann::json params;
  if (!build_params(args.params_json, args.params, args.input, params, error)) return fail(kExitUsage, error);
  nlohmann::json spec = {{"kind", args.kind}, {"params", std::move(params)}};
  if (!args.executor.empty()) spec["executor"] = args.executor;
  if (!args.timeout.empty()) {
    auto timeout = parse_duration(args.timeout, error);
    if (!timeout) return fail(kExitUsage, "--timeout: " + error);
    spec["timeout_ms"] = timeout->count();
  }
  if (!args.idempotency_key.empty()) spec["idempotency_key"] = args.idempotency_key;
  if (args.max_attempts > 0) spec["max_attempts"] = args.max_attempts;
  if (!args.retry_delay.empty()) {
    auto delay = parse_duration(args.retry_delay, error);
    if (!delay) return fail(kExitUsage, "--retry-delay: " + error);
    spec["retry_delay_ms"] = delay->count();
  }
  if (!args.delay.empty() && !args.run_at.empty())
    return fail(kExitUsage, "give --delay or --run-at, not both");
  if (!args.delay.empty()) {
    auto delay = parse_duration(args.delay, error);
    if (!delay) return fail(kExitUsage, "--delay: " + error);
    spec["delay_ms"] = delay->count();
  }
  // The server checks the time (RFC 3339) and says what is wrong with it.
  if (!args.run_at.empty()) spec["run_at"] = args.run_at;
  std::optional<std::chrono::milliseconds> limit;  // of --wait; none: until the job ends
  if (args.wait && !args.wait_for.empty()) {
    limit = parse_duration(args.wait_for, error);
    if (!limit) return fail(kExitUsage, "--wait: " + error);
  }

  client::Client client(globals.client);
  const auto started = Clock::now();
  auto first_wait = std::chrono::milliseconds(0);
  if (args.wait) first_wait = limit ? std::min(*limit, client::kServerMaxWait) : client::kServerMaxWait;
  Reply reply = client.submit(spec, first_wait);
  if (!reply.success()) return refused(globals, reply);
  auto record = job_record(reply);
  if (!record) return kExitServerError;
  if (args.wait && !client::is_final_state(state_of(*record))) {
    std::optional<std::chrono::milliseconds> left;
    if (limit)
      left = std::max(0ms,
                      *limit - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started));
    reply = client.wait(record->value("id", ""), left);
    if (!reply.success()) return refused(globals, reply);
    record = job_record(reply);
    if (!record) return kExitServerError;
  }
  if (globals.json) {
    print_json(*record);
  } else if (args.wait) {
    print(format_job(*record));
  } else {
    print(record->value("id", "") + "\n");  // bare, for id=$(jobctl submit ...)
  }
  return exit_for(*record, args.wait, args.wait_for);
}

int run_get(const Globals& globals, const std::string& id) {
  client::Client client(globals.client);
  Reply reply = client.job(id);
  if (!reply.success()) return refused(globals, reply);
  auto record = job_record(reply);
  if (!record) return kExitServerError;
  show_job(globals, *record);
  return exit_for(*record, false);
}

int run_wait(const Globals& globals, const std::string& id, const std::string& limit_text) {
  std::optional<std::chrono::milliseconds> limit;
  if (!limit_text.empty()) {
    std::string error;
    limit = parse_duration(limit_text, error);
    if (!limit) return fail(kExitUsage, "--timeout: " + error);
  }
  client::Client client(globals.client);
  Reply reply = client.wait(id, limit);
  if (!reply.success()) return refused(globals, reply);
  auto record = job_record(reply);
  if (!record) return kExitServerError;
  show_job(globals, *record);
  return exit_for(*record, true, limit_text);
}

int run_cancel(const Globals& globals, const std::string& id) {
  client::Client client(globals.client);
  Reply reply = client.cancel(id);
  if (!reply.success()) return refused(globals, reply);
  auto record = job_record(reply);
  if (!record) return kExitServerError;
  show_job(globals, *record);
  // The cancel was accepted: that is success, whatever state it left the job in.
  return kExitSucceeded;
}

int run_list(const Globals& globals, const ListArgs& args) {
  client::Client client(globals.client);
  client::ListQuery query;
  if (!args.state.empty()) query.state = args.state;
  if (!args.kind.empty()) query.kind = args.kind;
  if (args.limit > 0) query.limit = args.limit;
  if (args.all && !query.limit) query.limit = kListPageSize;
  if (!args.cursor.empty()) query.cursor = args.cursor;
  query.full = args.full;
  nlohmann::json page;
  nlohmann::json all_jobs = nlohmann::json::array();
  for (;;) {
    Reply reply = client.list(query);
    if (!reply.success()) return refused(globals, reply);
    page = reply.json();
    if (!page.is_object() || !page.contains("jobs") || !page["jobs"].is_array()) {
      return fail(kExitServerError, "HTTP " + std::to_string(reply.status) + " without a job list");
    }
    if (!args.all) break;
    for (auto& job : page["jobs"]) all_jobs.push_back(std::move(job));
    if (!page.contains("next_cursor") || !page["next_cursor"].is_string()) {
      page = {{"jobs", std::move(all_jobs)}, {"next_cursor", nullptr}};
      break;
    }
    query.cursor = page["next_cursor"].get<std::string>();
  }
  if (globals.json) {
    print_json(page);
  } else {
    print(format_job_list(page));
  }
  return kExitSucceeded;
}

int run_kinds(const Globals& globals) {
  client::Client client(globals.client);
  Reply reply = client.kinds();
  if (!reply.success()) return refused(globals, reply);
  const nlohmann::json catalog = reply.json();
  if (!catalog.is_object()) return fail(kExitServerError, "GET /v1/kinds did not answer JSON");
  if (globals.json) {
    print_json(catalog);
  } else {
    print(format_kinds(catalog));
  }
  return kExitSucceeded;
}

int run_health(const Globals& globals) {
  client::Client client(globals.client);
  Reply live = client.healthz();
  Reply ready = live.transport_failed() ? live : client.readyz();
  const bool is_live = live.status == 200;
  const bool is_ready = ready.status == 200;
  // The job store, as /healthz describes it (older servers say nothing of it).
  nlohmann::json store;
  if (is_live) {
    const nlohmann::json body = live.json();
    if (body.is_object() && body.contains("store") && body["store"].is_object()) store = body["store"];
  }
  if (globals.json) {
    nlohmann::json out{
        {"live", is_live}, {"ready", is_ready}, {"healthz", live.status}, {"readyz", ready.status}};
    if (!store.is_null()) out["store"] = store;
    print_json(out);
  } else {
    print(std::string("live   ") + (is_live ? "yes" : "no (" + live.describe() + ")") + "\n");
    print(std::string("ready  ") + (is_ready ? "yes" : "no (" + ready.describe() + ")") + "\n");
    if (!store.is_null()) {
      const bool ok = store.value("ok", false);
      print("store  " + store.value("uri", std::string("?")) + " (durability " +
            store.value("durability", std::string("?")) +
            "): " + (ok ? std::string("ok") : "failing: " + store.value("reason", std::string("?"))) + "\n");
    }
  }
  if (!is_live) return fail(kExitServerError, live.describe());
  if (!is_ready) return fail(kExitServerError, "not ready: " + ready.describe());
  return kExitSucceeded;
}

int run_backup(const Globals& globals) {
  client::Client client(globals.client);
  Reply reply = client.backup_store();
  if (!reply.success()) return refused(globals, reply);
  const nlohmann::json answer = reply.json();
  if (!answer.is_object() || !answer.contains("path") || !answer["path"].is_string())
    return fail(kExitServerError, "POST /v1/store/backup did not answer a path");
  if (globals.json) {
    print_json(answer);
  } else {
    const double mib = answer.value("bytes", 0.0) / (1024.0 * 1024.0);
    char line[96];
    std::snprintf(line, sizeof line, " (%.1f MiB in %lld ms)\n", mib, answer.value("took_ms", 0LL));
    print(answer["path"].get<std::string>() + line);
  }
  // Whole, but a power loss may undo its rename: worth a line, not a failure.
  if (answer.contains("warning") && answer["warning"].is_string())
    std::fprintf(stderr, "jobctl: warning: %s\n", answer["warning"].get<std::string>().c_str());
  return kExitSucceeded;
}

int run_watch(const Globals& globals, const std::string& id) {
  client::Client client(globals.client);
  std::string last_id;
  std::optional<nlohmann::json> final_record;
  auto on_event = [&](const client::SseEvent& event) {
    // After a resume, a server that replays from the start must not make lines appear twice:
    // ids are increasing numbers, so anything not above the last one was already shown.
    if (!last_id.empty() && !event.id.empty()) {
      char* end = nullptr;
      const auto seen = std::strtoull(last_id.c_str(), &end, 10);
      const bool seen_numeric = *end == '\0';
      const auto now = std::strtoull(event.id.c_str(), &end, 10);
      if (seen_numeric && *end == '\0' && now <= seen) return true;
    }
    if (!event.id.empty()) last_id = event.id;
    if (globals.json) {
      nlohmann::json data = nlohmann::json::parse(event.data, nullptr, false);
      if (data.is_discarded()) data = event.data;
      print_json({{"event", event.type}, {"id", event.id}, {"data", std::move(data)}});
    } else {
      print(format_event(event) + "\n");
    }
    if (event.type == "state") {
      nlohmann::json record = nlohmann::json::parse(event.data, nullptr, false);
      if (client::is_final_state(state_of(record))) {
        final_record = std::move(record);
        return false;  // the stream ends here anyway; do not wait for the server's close
      }
    }
    return true;
  };
  int failures = 0;
  for (;;) {
    // NOLINTNEXTLINE(performance-unnecessary-copy-initialization): a snapshot; on_event changes last_id
    const std::string before = last_id;
    Reply reply = client.events(id, on_event, last_id);
    if (final_record) return exit_for(*final_record, true);
    if (!reply.transport_failed() && !reply.success()) return refused(globals, reply);
    // Broken off (or ended) before the final state: resume from the last event seen.
    failures = last_id != before ? 1 : failures + 1;
    if (failures > kWatchReconnects) {
      return fail(kExitServerError, reply.error
                                        ? reply.describe()
                                        : "event stream of job " + id + " ended before the job finished");
    }
    std::this_thread::sleep_for(kWatchReconnectPause);
  }
}

}  // namespace jobd::jobctl
