#include "api/api.hpp"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "api/ui_assets.hpp"  // [ui]
#include "http/json_body.hpp"
#include "jobs/scheduler.hpp"
#include "kinds/kind.hpp"

namespace jobd::api {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using http::Route;
using proto::Problem;
namespace problems = proto::problems;

namespace {

Response job_response(unsigned status, const nlohmann::json& record) {
  Response response = Response::json(status, record);
  response.headers.emplace_back("Location", "/v1/jobs/" + record.at("id").get<std::string>());
  return response;
}

Problem query_problem(std::string name, std::string detail) {
  return Problem{problems::invalid_query, std::move(detail), "?" + name, std::nullopt};
}

// ?wait=SECONDS: a decimal number of seconds from 0 to the maximum.
std::variant<std::chrono::milliseconds, Problem> parse_wait(const Request& request,
                                                            std::chrono::milliseconds max_wait) {
  auto text = http::query_param(request.query(), "wait");
  if (!text) return std::chrono::milliseconds(0);
  double seconds = -1;
  auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), seconds);
  if (error != std::errc() || end != text->data() + text->size() || !std::isfinite(seconds) || seconds < 0 ||
      seconds * 1000 > static_cast<double>(max_wait.count())) {
    return query_problem("wait",
                         "must be a number of seconds from 0 to " + std::to_string(max_wait.count() / 1000));
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

}  // namespace

Api::Api(asio::any_io_executor loop, jobs::Scheduler& scheduler, const kinds::KindRegistry& kinds,
         ApiOptions options)
    : loop_(std::move(loop)), scheduler_(scheduler), options_(options) {
  options_.events.open_streams = &open_streams_;
  nlohmann::json catalog = nlohmann::json::array();
  for (const auto& kind : kinds.all()) catalog.push_back(kinds::KindRegistry::describe(*kind));
  kinds_body_ = nlohmann::json{{"kinds", std::move(catalog)}}.dump();
}

bool Api::answers_now(Route route) { return route != Route::jobs_submit && route != Route::job_get; }

std::optional<Response> Api::refuse_unauthorized(const Request& request, Route route) const {
  if (!options_.tokens.enabled()) return std::nullopt;
  // Probes stay open (orchestrators call them without credentials); so do 404/405 answers,
  // which reveal nothing but the route table.
  // [ui] So is the dashboard (its page asks for a token for the API calls it makes) and the
  // contract: neither holds data.
  if (route == Route::healthz || route == Route::readyz || route == Route::not_found ||
      route == Route::method_not_allowed || route == Route::ui_asset) {
    return std::nullopt;
  }
  if (route == Route::metrics && options_.metrics_public) return std::nullopt;
  if (options_.tokens.allows(request.authorization)) return std::nullopt;
  Response response = Response::problem(
      Problem{problems::unauthorized,
              request.authorization.empty() ? "send Authorization: Bearer <token>" : "the token is not valid",
              std::nullopt, std::nullopt});
  response.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="jobd")");
  return response;
}

Response Api::handle_now(const Request& request, const http::RouteMatch& match) {
  if (auto refusal = refuse_unauthorized(request, match.route)) return std::move(*refusal);
  switch (match.route) {
    case Route::healthz: {
      Response response;
      response.body = R"({"status":"ok"})";
      return response;
    }
    case Route::readyz: return readiness();
    case Route::kinds: {
      Response response;
      response.body = kinds_body_;
      return response;
    }
    case Route::jobs_list: return list_jobs(request);
    case Route::job_events: return job_events(request, match.job_id);
    case Route::events: return all_events(request);
    case Route::metrics: {
      if (!render_metrics_) break;
      Response response;
      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
      response.body = render_metrics_();
      return response;
    }
    case Route::job_cancel: return cancel_job(match.job_id);
    case Route::ui_asset: {  // [ui]
      if (auto asset = ui_asset_response(request.path(), request.if_none_match)) return std::move(*asset);
      break;  // an unknown file: 404 below
    }
    case Route::method_not_allowed: {
      Response response = Response::problem(Problem{
          problems::method_not_allowed,
          std::string(http::to_string(request.method)) + " is not allowed on " + std::string(match.name),
          std::nullopt, std::nullopt});
      response.headers.emplace_back("Allow", std::string(match.allowed));
      return response;
    }
    default: break;
  }
  return Response::problem(Problem{problems::not_found, "no route for " + std::string(request.path()),
                                   std::nullopt, std::nullopt});
}

asio::awaitable<Response> Api::handle(Request request, http::RouteMatch match) {
  if (auto refusal = refuse_unauthorized(request, match.route)) co_return std::move(*refusal);
  switch (match.route) {
    case Route::jobs_submit: co_return co_await submit(std::move(request));
    case Route::job_get: co_return co_await get_job(std::move(request), std::string(match.job_id));
    default: co_return handle_now(request, match);
  }
}

Response Api::readiness() const {
  if (scheduler_.draining()) {
    return Response::problem(Problem{problems::draining, "draining running jobs before exit", std::nullopt,
                                     scheduler_.options().retry_after_s});
  }
  if (!scheduler_.ready()) {
    return Response::problem(Problem{problems::not_ready, "executors are starting", std::nullopt,
                                     scheduler_.options().retry_after_s});
  }
  Response response;
  response.body = R"({"status":"ready"})";
  return response;
}

asio::awaitable<Response> Api::submit(Request request) {
  auto wait = parse_wait(request, options_.max_wait);
  if (auto* problem = std::get_if<Problem>(&wait)) co_return Response::problem(*problem);
  auto body = http::parse_json_body(request.content_type, request.body, options_.max_json_depth);
  if (auto* problem = std::get_if<Problem>(&body)) co_return Response::problem(*problem);
  auto spec = proto::parse_job_spec(std::get<nlohmann::json>(body));
  if (auto* problem = std::get_if<Problem>(&spec)) co_return Response::problem(*problem);

  auto submitted = scheduler_.submit(std::get<proto::JobSpec>(std::move(spec)));
  if (auto* problem = std::get_if<Problem>(&submitted)) co_return Response::problem(*problem);
  auto [job, replayed] = std::get<jobs::Submitted>(submitted);
  const auto seq = job->seq;
  nlohmann::json record;
  bool final = proto::is_final(job->state);
  const auto wait_for = std::get<std::chrono::milliseconds>(wait);
  if (!final && wait_for.count() > 0) {
    auto done = co_await scheduler_.wait_final(seq, std::chrono::steady_clock::now() + wait_for);
    if (done) {
      record = std::move(*done);
      final = true;
    }
  }
  if (record.is_null()) {
    const jobs::Job* current = scheduler_.table().get(seq);
    if (current == nullptr) {
      co_return Response::problem(
          Problem{problems::job_not_found, "job was evicted (--max-jobs)", std::nullopt, std::nullopt});
    }
    record = jobs::to_json(*current);
  }
  // 200 when the caller gets the finished job, 202 when it is still on its way.
  Response response = job_response(final && wait_for.count() > 0 ? 200 : 202, record);
  if (replayed) response.headers.emplace_back("Idempotent-Replayed", "true");
  co_return response;
}

asio::awaitable<Response> Api::get_job(Request request, std::string job_id) {
  auto wait = parse_wait(request, options_.max_wait);
  if (auto* problem = std::get_if<Problem>(&wait)) co_return Response::problem(*problem);
  const jobs::Job* job = scheduler_.table().get(job_id);
  if (job == nullptr) {
    co_return Response::problem(
        Problem{problems::job_not_found, "no job with that id", std::nullopt, std::nullopt});
  }
  const auto wait_for = std::get<std::chrono::milliseconds>(wait);
  if (!proto::is_final(job->state) && wait_for.count() > 0) {
    const auto seq = job->seq;
    auto done = co_await scheduler_.wait_final(seq, std::chrono::steady_clock::now() + wait_for);
    if (done) co_return Response::json(200, *done);
    job = scheduler_.table().get(seq);
    if (job == nullptr) {
      co_return Response::problem(
          Problem{problems::job_not_found, "job was evicted", std::nullopt, std::nullopt});
    }
  }
  co_return Response::json(200, jobs::to_json(*job));
}

Response Api::cancel_job(std::string_view job_id) {
  auto cancelled = scheduler_.cancel(job_id);
  if (auto* problem = std::get_if<Problem>(&cancelled)) return Response::problem(*problem);
  const jobs::Job& job = *std::get<const jobs::Job*>(cancelled);
  // 200 when the job is already stopped; 202 when its executor is still stopping it.
  return Response::json(proto::is_final(job.state) ? 200 : 202, jobs::to_json(job));
}

Response Api::job_events(const Request& request, std::string_view job_id) {
  const jobs::Job* job = scheduler_.table().get(job_id);
  if (job == nullptr) {
    return Response::problem(
        Problem{problems::job_not_found, "no job with that id", std::nullopt, std::nullopt});
  }
  // Resume point: the Last-Event-ID header, or ?last_event_id= for clients that cannot set it.
  std::string resume = request.last_event_id;
  if (resume.empty()) resume = http::query_param(request.query(), "last_event_id").value_or("");
  std::uint64_t after = 0;
  if (!resume.empty()) {
    auto [end, error] = std::from_chars(resume.data(), resume.data() + resume.size(), after);
    if (error != std::errc() || end != resume.data() + resume.size()) {
      return Response::problem(query_problem("last_event_id", "must be an event id this stream sent"));
    }
  }
  Response response;
  response.content_type = "text/event-stream";
  response.headers.emplace_back("Cache-Control", "no-cache");
  response.headers.emplace_back("X-Accel-Buffering", "no");  // nginx: do not buffer the stream
  response.stream = std::make_shared<JobEventStream>(loop_, options_.events, scheduler_.table(), *job, after);
  return response;
}

Response Api::all_events(const Request& request) {
  const auto query = request.query();
  std::optional<proto::JobState> state;
  if (auto text = http::query_param(query, "state")) {
    state = proto::parse_job_state(*text);
    if (!state) {
      return Response::problem(
          query_problem("state", "must be one of: queued, running, succeeded, failed, cancelled, timed_out"));
    }
  }
  Response response;
  response.content_type = "text/event-stream";
  response.headers.emplace_back("Cache-Control", "no-cache");
  response.headers.emplace_back("X-Accel-Buffering", "no");
  response.stream = std::make_shared<AllEventsStream>(loop_, options_.events, scheduler_.table(),
                                                      http::query_param(query, "kind"), state);
  return response;
}

Response Api::list_jobs(const Request& request) {
  jobs::ListFilter filter;
  const auto query = request.query();
  if (auto state = http::query_param(query, "state")) {
    filter.state = proto::parse_job_state(*state);
    if (!filter.state) {
      return Response::problem(
          query_problem("state", "must be one of: queued, running, succeeded, failed, cancelled, timed_out"));
    }
  }
  if (auto kind = http::query_param(query, "kind")) filter.kind = *kind;
  if (auto limit = http::query_param(query, "limit")) {
    std::size_t value = 0;
    auto [end, error] = std::from_chars(limit->data(), limit->data() + limit->size(), value);
    if (error != std::errc() || end != limit->data() + limit->size() || value == 0 ||
        value > options_.max_list_limit) {
      return Response::problem(
          query_problem("limit", "must be an integer from 1 to " + std::to_string(options_.max_list_limit)));
    }
    filter.limit = value;
  }
  if (auto cursor = http::query_param(query, "cursor")) {
    jobs::JobSeq value = 0;
    auto [end, error] = std::from_chars(cursor->data(), cursor->data() + cursor->size(), value);
    if (error != std::errc() || end != cursor->data() + cursor->size()) {
      return Response::problem(query_problem("cursor", "is not a cursor this server returned"));
    }
    filter.before = value;
  }
  auto page = scheduler_.table().list(filter);
  nlohmann::json jobs = nlohmann::json::array();
  for (const jobs::Job* job : page.jobs) jobs.push_back(jobs::to_json(*job));
  nlohmann::json body = {{"jobs", std::move(jobs)}};
  body["next_cursor"] = page.next_cursor ? nlohmann::json(std::to_string(*page.next_cursor)) : nullptr;
  return Response::json(200, body);
}

}  // namespace jobd::api
