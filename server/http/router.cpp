#include "http/router.hpp"

namespace jobd::http {

namespace {
constexpr std::string_view kJobsPrefix = "/v1/jobs/";

RouteMatch only_get(Method method, Route route, std::string_view name) {
  if (method == Method::get || method == Method::head) return {route, {}, {}, name};
  return {Route::method_not_allowed, {}, "GET, HEAD", name};
}
}  // namespace

RouteMatch match_route(Method method, std::string_view path) {
  if (path == "/healthz") return only_get(method, Route::healthz, "/healthz");
  if (path == "/readyz") return only_get(method, Route::readyz, "/readyz");
  if (path == "/metrics") return only_get(method, Route::metrics, "/metrics");
  if (path == "/v1/kinds") return only_get(method, Route::kinds, "/v1/kinds");
  if (path == "/v1/events") return only_get(method, Route::events, "/v1/events");
  // [ui] The dashboard's page and files, and the OpenAPI document: one route, answered by
  // api/ui_assets.hpp (an unknown file under /ui/ is a 404 there).
  if (path == "/openapi.yaml") return only_get(method, Route::ui_asset, "/openapi.yaml");
  if (path == "/ui" || path == "/ui/") return only_get(method, Route::ui_asset, "/ui");
  if (path.starts_with("/ui/")) return only_get(method, Route::ui_asset, "/ui/{asset}");
  // [/ui]
  if (path == "/v1/jobs") {
    if (method == Method::post) return {Route::jobs_submit, {}, {}, "/v1/jobs"};
    if (method == Method::get || method == Method::head) return {Route::jobs_list, {}, {}, "/v1/jobs"};
    return {Route::method_not_allowed, {}, "GET, HEAD, POST", "/v1/jobs"};
  }
  if (path.starts_with(kJobsPrefix)) {
    std::string_view rest = path.substr(kJobsPrefix.size());
    const auto slash = rest.find('/');
    std::string_view id = rest.substr(0, slash);
    if (id.empty()) return {Route::not_found, {}, {}, "unmatched"};
    if (slash == std::string_view::npos) {
      if (method == Method::get || method == Method::head) return {Route::job_get, id, {}, "/v1/jobs/{id}"};
      if (method == Method::delete_) return {Route::job_cancel, id, {}, "/v1/jobs/{id}"};
      return {Route::method_not_allowed, id, "GET, HEAD, DELETE", "/v1/jobs/{id}"};
    }
    if (rest.substr(slash) == "/events") {
      RouteMatch match = only_get(method, Route::job_events, "/v1/jobs/{id}/events");
      match.job_id = id;
      return match;
    }
  }
  return {Route::not_found, {}, {}, "unmatched"};
}

}  // namespace jobd::http
