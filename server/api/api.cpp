#include "api/api.hpp"

#include <array>
#include <nlohmann/json.hpp>

#include "api/ui_assets.hpp"
#include "cluster/cluster.hpp"
#include "jobs/scheduler.hpp"
#include "kinds/kind.hpp"
#include "metrics/loop_lag.hpp"

namespace jobd::api {

namespace asio = boost::asio;
using http::Method;
using http::Request;
using http::Response;
using proto::Problem;
namespace problems = proto::problems;

std::span<const Route> Api::routes() {
  // Matched top to bottom; one path may have several entries (one per method set). Submit, get
  // and cancel read the shared store themselves (job_handlers.cpp): they wait on any store.
  static const std::array<Route, 15> kRoutes{{
      {"/healthz", {Method::get}, Access::open, &Api::healthz},
      {"/readyz", {Method::get}, Access::open, &Api::readiness},
      {"/metrics", {Method::get}, Access::metrics, &Api::metrics},
      {"/v1/kinds", {Method::get}, Access::token, &Api::kinds},
      {"/v1/jobs", {Method::post}, Access::token, &Api::submit},
      // On a shared store the list reads Redis, so it waits (one replica answers it at once).
      {"/v1/jobs", {Method::get}, Access::token, &Api::list_jobs, &Api::list_shared},
      {"/v1/jobs/{id}", {Method::get}, Access::token, &Api::get_job},
      {"/v1/jobs/{id}", {Method::delete_}, Access::token, &Api::cancel_job},
      // ... and so does a job's event stream (it may run, or have run, on another replica).
      {"/v1/jobs/{id}/events", {Method::get}, Access::token, &Api::job_events, &Api::job_events_shared},
      {"/v1/events", {Method::get}, Access::token, &Api::all_events},
      {"/v1/store/backup", {Method::post}, Access::token, &Api::backup_store},
      // Open even with tokens: the page asks for one for the API calls it makes; neither it nor
      // the contract holds data.
      {"/ui", {Method::get}, Access::open, &Api::ui_file},
      {"/ui/", {Method::get}, Access::open, &Api::ui_file},
      {"/ui/{asset*}", {Method::get}, Access::open, &Api::ui_file},
      {"/openapi.yaml", {Method::get}, Access::open, &Api::ui_file},
  }};
  return kRoutes;
}

Api::Api(asio::any_io_executor loop, jobs::Scheduler& scheduler, const kinds::KindRegistry& kinds,
         ApiOptions options)
    : loop_(std::move(loop)),
      scheduler_(scheduler),
      options_(std::move(options)),
      routes_(options_.cluster ? on_shared_store(routes())
                               : std::vector<Route>(routes().begin(), routes().end())),
      event_fanout_(loop_),
      all_events_hub_(loop_, scheduler.table(), event_fanout_, options_.events.buffer) {
  options_.events.open_streams = &open_streams_;
  if (options_.cluster) {
    // GET /v1/events shows every replica's state changes, each once (from the `events` channel,
    // this replica's own included; the local table's copies of adopted jobs are not watched).
    all_events_hub_.external();
    options_.cluster->on_states(
        [this](const jobs::Job& job, const jobs::JobEvent& event) { all_events_hub_.feed(job, event); },
        [this] { return all_events_hub_.streams() > 0; });
  }
  nlohmann::json catalog = nlohmann::json::array();
  for (const auto& kind : kinds.all()) catalog.push_back(kinds::KindRegistry::describe(*kind));
  kinds_body_ = nlohmann::json{{"kinds", std::move(catalog)}}.dump();
  healthz_prefix_ = R"({"status":"ok","store":{"uri":)" + nlohmann::json(options_.store.uri).dump() +
                    R"(,"durability":)" + nlohmann::json(options_.store.durability).dump() + R"(,"ok":)";
  healthz_ok_ = healthz_prefix_ + "true}}";
}

http::Answer Api::handle(const Request& request) {
  const RouteMatch match = match_route(routes_, request.method, request.path());
  // The api notes what the loop runs, not the session: http/ stays free of metrics, and a
  // thread_local store costs less than a hook called through std::function per request.
  metrics::note_loop_activity(match.name);
  if (match.route == nullptr) return {match.name, unrouted(request, match)};
  if (auto refusal = refuse_unauthorized(request, match.route->access))
    return {match.name, std::move(*refusal)};
  if (const auto* now = std::get_if<AnswerNow>(&match.route->answer))
    return {match.name, (this->**now)(request, match.id)};
  // The coroutine takes the request and the id by reference: the session awaits it at once and
  // keeps the request until the answer is written (a copy cost 2 allocations per submit).
  const AnswerLater later = std::get<AnswerLater>(match.route->answer);
  return {match.name, (this->*later)(request, match.id)};
}

Response Api::ui_file(const Request& request, std::string_view) {
  if (auto asset = ui_asset_response(request.path(), request.if_none_match)) return std::move(*asset);
  return Response::problem(
      Problem{problems::not_found, "no file " + std::string(request.path()), std::nullopt, std::nullopt});
}

std::optional<Response> Api::refuse_unauthorized(const Request& request, Access access) const {
  if (!options_.tokens.enabled() || access == Access::open) return std::nullopt;
  if (access == Access::metrics && options_.metrics_public) return std::nullopt;
  if (options_.tokens.allows(request.authorization)) return std::nullopt;
  Response response = Response::problem(
      Problem{problems::unauthorized,
              request.authorization.empty() ? "send Authorization: Bearer <token>" : "the token is not valid",
              std::nullopt, std::nullopt});
  response.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="jobd")");
  return response;
}

Response Api::unrouted(const Request& request, const RouteMatch& match) {
  // Open even with tokens: a 404 or 405 reveals nothing but the route table.
  if (match.allowed.empty()) {
    return Response::problem(Problem{problems::not_found, "no route for " + std::string(request.path()),
                                     std::nullopt, std::nullopt});
  }
  Response response = Response::problem(
      Problem{problems::method_not_allowed,
              std::string(http::to_string(request.method)) + " is not allowed on " + std::string(match.name),
              std::nullopt, std::nullopt});
  response.headers.emplace_back("Allow", match.allowed.allow_header());
  return response;
}

Response Api::healthz(const Request&, std::string_view) {
  // Liveness: 200 whatever the store says (restarting jobd would not free a disk); the store's
  // state is shown for people and `jobctl health`.
  // The answer of a probe hit many times a second: the healthy one is rendered once, at start.
  Response response;
  const store::StoreHealth health = store_health();
  if (health.ok) {
    response.fixed_body = healthz_ok_;
    return response;
  }
  response.body = healthz_prefix_;
  response.body += "false,\"reason\":";
  response.body +=
      nlohmann::json(health.reason).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  response.body += "}}";
  return response;
}

Response Api::readiness(const Request&, std::string_view) {
  if (scheduler_.draining()) {
    return Response::problem(Problem{problems::draining, "draining running jobs before exit", std::nullopt,
                                     scheduler_.options().retry_after_s});
  }
  if (const store::StoreHealth health = store_health(); !health.ok) {
    return Response::problem(Problem{problems::store_unavailable, health.reason, std::nullopt,
                                     scheduler_.options().retry_after_s});
  }
  if (!scheduler_.ready()) {
    return Response::problem(Problem{problems::not_ready, "executors are starting", std::nullopt,
                                     scheduler_.options().retry_after_s});
  }
  Response response;
  response.fixed_body = R"({"status":"ready"})";
  return response;
}

Response Api::kinds(const Request&, std::string_view) {
  Response response;
  response.fixed_body = kinds_body_;
  return response;
}

Response Api::metrics(const Request& request, std::string_view) {
  if (!render_metrics_) {
    return Response::problem(Problem{problems::not_found, "no route for " + std::string(request.path()),
                                     std::nullopt, std::nullopt});
  }
  Response response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = render_metrics_();
  return response;
}

}  // namespace jobd::api
