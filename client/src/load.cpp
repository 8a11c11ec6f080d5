#include "jobd/client/load.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <stdexcept>

#include "http_connection.hpp"

namespace jobd::client {

namespace asio = boost::asio;
using detail::HttpConnection;
using detail::HttpRequest;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

std::string_view short_type(std::string_view type) {
  const auto slash = type.rfind('/');
  return slash == std::string_view::npos ? type : type.substr(slash + 1);
}

// `record` is the parsed body when the reply is a 2xx; `polling` tells a failure of a follow-up
// long poll from a refusal of the submit itself.
std::string classify(const Reply& reply, const nlohmann::json& record, bool polling) {
  if (reply.transport_failed()) {
    std::string reason = reply.error.message();
    return std::string(polling ? "network (polling): " : "network: ") + reason;
  }
  if (!reply.success()) {
    std::string text =
        std::string(polling ? "poll refused: HTTP " : "refused: HTTP ") + std::to_string(reply.status);
    if (auto info = reply.problem()) text += " " + std::string(short_type(info->type));
    return text;
  }
  if (!record.is_object() || !record.contains("state") || !record["state"].is_string()) {
    return "bad answer: HTTP " + std::to_string(reply.status) + " without a job record";
  }
  std::string state = record["state"].get<std::string>();  // not const: returned by move
  if (state == "succeeded") return state;
  if (!is_final_state(state)) return "unfinished: " + state;
  std::string error_type = "unknown";
  if (record.contains("error") && record["error"].is_object()) {
    error_type = record["error"].value("type", "unknown");
  }
  return state + ": " + error_type;
}

struct Run {
  LoadOptions options;
  Endpoint endpoint;
  HttpRequest submit;
  std::chrono::milliseconds request_timeout{0};
  Clock::time_point start;
  Clock::time_point stop_submitting = Clock::time_point::max();
  // Jobs still unfinished at this point are reported as such (duration runs only).
  Clock::time_point stop_polling = Clock::time_point::max();
  Clock::time_point last_answer;
  std::uint64_t tickets = 0;
  std::size_t workers = 0;  // connection coroutines still running
  std::size_t in_flight = 0;
  std::exception_ptr failure;
  LoadReport report;

  bool take_ticket() {
    if (options.jobs != 0 && tickets >= options.jobs) return false;
    if (Clock::now() >= stop_submitting) return false;
    ++tickets;
    return true;
  }

  LoadSnapshot snapshot() const {
    LoadSnapshot s;
    s.elapsed = Clock::now() - start;
    s.submitted = report.submitted;
    s.finished = report.succeeded + report.not_succeeded;
    s.succeeded = report.succeeded;
    s.in_flight = in_flight;
    s.p99_ns = report.latency.quantile_ns(0.99);
    return s;
  }
};

// One connection's loop: submit, follow the job to its end, account for it, next.
asio::awaitable<void> drive_connection(Run& run, HttpConnection& connection) {
  asio::steady_timer backoff(co_await asio::this_coro::executor);
  HttpRequest poll;
  poll.method = "GET";
  const std::string wait_query = "?wait=" + wait_seconds(run.options.wait);
  while (run.take_ticket()) {
    ++run.in_flight;
    const auto started = Clock::now();
    Reply reply = co_await connection.exchange(run.submit, run.request_timeout);
    ++run.report.submitted;
    nlohmann::json record;
    bool polling = false;
    if (reply.success()) {
      ++run.report.accepted;
      record = reply.json();
      // 202: the wait ran out before the job ended; long-poll it like a user would.
      while (record.is_object() && !is_final_state(record.value("state", "")) && record.contains("id") &&
             Clock::now() < run.stop_polling) {
        polling = true;
        poll.target = run.endpoint.base_path + "/v1/jobs/" +
                      encode_query_value(record["id"].get<std::string>()) + wait_query;
        reply = co_await connection.exchange(poll, run.request_timeout);
        if (!reply.success()) break;
        record = reply.json();
      }
    } else if (!reply.transport_failed()) {
      ++run.report.refusals_by_status[reply.status];
    }
    const auto finished = Clock::now();
    run.last_answer = finished;
    const std::string outcome = classify(reply, record, polling);
    ++run.report.outcomes[outcome];
    if (outcome == "succeeded") {
      ++run.report.succeeded;
    } else {
      ++run.report.not_succeeded;
    }
    if (reply.success() && record.is_object() && is_final_state(record.value("state", ""))) {
      run.report.latency.record(finished - started);
    }
    --run.in_flight;
    if (reply.transport_failed()) {
      backoff.expires_after(kNetworkErrorBackoff);
      co_await backoff.async_wait(use_tuple);
    }
  }
}

// Calls `on_progress` every interval until the last connection is done (it cancels `timer`).
asio::awaitable<void> report_progress(const Run& run, asio::steady_timer& timer,
                                      const std::function<void(const LoadSnapshot&)>& on_progress) {
  while (run.workers > 0) {
    timer.expires_after(run.options.progress_interval);
    co_await timer.async_wait(use_tuple);
    if (run.workers == 0) break;
    on_progress(run.snapshot());
  }
}

}  // namespace

std::string classify_outcome(const Reply& reply) {
  const nlohmann::json record = reply.success() ? reply.json() : nlohmann::json();
  return classify(reply, record, false);
}

double LoadReport::jobs_per_second() const {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  return seconds > 0 ? static_cast<double>(latency.count()) / seconds : 0.0;
}

nlohmann::json LoadReport::to_json() const {
  auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  nlohmann::json by_status = nlohmann::json::object();
  for (const auto& [status, count] : refusals_by_status) by_status[std::to_string(status)] = count;
  nlohmann::json distribution = nlohmann::json::array();
  for (const auto& range : latency.octaves()) {
    distribution.push_back(
        {{"low_ms", ms(range.low_ns)}, {"high_ms", ms(range.high_ns)}, {"count", range.count}});
  }
  return {{"elapsed_s", std::chrono::duration<double>(elapsed).count()},
          {"jobs_per_second", jobs_per_second()},
          {"submitted", submitted},
          {"accepted", accepted},
          {"succeeded", succeeded},
          {"not_succeeded", not_succeeded},
          {"outcomes", outcomes},
          {"refusals_by_status", by_status},
          {"connections_opened", connections_opened},
          {"latency_ms",
           {{"count", latency.count()},
            {"min", ms(latency.min_ns())},
            {"mean", latency.mean_ns() / 1e6},
            {"p50", ms(latency.quantile_ns(0.50))},
            {"p90", ms(latency.quantile_ns(0.90))},
            {"p99", ms(latency.quantile_ns(0.99))},
            {"p99_9", ms(latency.quantile_ns(0.999))},
            {"max", ms(latency.max_ns())}}},
          {"latency_distribution", distribution}};
}

LoadReport run_load(const ClientOptions& client, const LoadOptions& options,
                    const std::function<void(const LoadSnapshot&)>& on_progress) {
  if (options.connections == 0) throw std::invalid_argument("connections must be at least 1");
  if (options.jobs == 0 && options.duration.count() <= 0) {
    throw std::invalid_argument("give a job count, a duration, or both");
  }
  std::string error;
  auto endpoint = parse_url(client.url, error);
  if (!endpoint) throw std::invalid_argument(error);

  Run run;
  run.options = options;
  run.endpoint = *endpoint;
  run.submit.method = "POST";
  run.submit.target = endpoint->base_path + "/v1/jobs";
  if (options.wait.count() > 0) run.submit.target += "?wait=" + wait_seconds(options.wait);
  run.submit.body = options.spec.dump();
  run.submit.content_type = "application/json";
  run.request_timeout = client.request_timeout + options.wait;

  asio::io_context io(1);
  std::deque<HttpConnection> connections;  // a deque: coroutines hold references to them
  for (std::size_t i = 0; i < options.connections; ++i)
    connections.emplace_back(io.get_executor(), *endpoint, client);
  asio::steady_timer progress_timer(io);

  run.start = Clock::now();
  run.last_answer = run.start;
  if (options.duration.count() > 0) {
    run.stop_submitting = run.start + options.duration;
    run.stop_polling = run.stop_submitting + options.wait;
  }
  run.workers = connections.size();
  for (auto& connection : connections) {
    asio::co_spawn(io, drive_connection(run, connection),
                   [&run, &progress_timer](std::exception_ptr failure) {
                     if (failure && !run.failure) run.failure = std::move(failure);
                     if (--run.workers == 0) progress_timer.cancel();
                   });
  }
  if (on_progress && options.progress_interval.count() > 0) {
    asio::co_spawn(io, report_progress(run, progress_timer, on_progress), asio::detached);
  }
  io.run();
  if (run.failure) std::rethrow_exception(run.failure);

  run.report.elapsed = run.last_answer - run.start;
  for (const auto& connection : connections) run.report.connections_opened += connection.connects();
  return std::move(run.report);
}

}  // namespace jobd::client
