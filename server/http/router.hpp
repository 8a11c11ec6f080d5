// Router: maps method and path to a route, sans-I/O. Unknown paths are 404; known paths with
// another method are 405 with the Allow list.
#pragma once

#include <string>
#include <string_view>

#include "http/message.hpp"

namespace jobd::http {

enum class Route {
  healthz,
  readyz,
  metrics,
  jobs_list,
  jobs_submit,
  job_get,
  job_cancel,
  job_events,
  events,
  kinds,
  ui_asset,  // [ui] the dashboard and /openapi.yaml (api/ui_assets.hpp)
  not_found,
  method_not_allowed,
};

struct RouteMatch {
  Route route = Route::not_found;
  std::string_view job_id;   // for /v1/jobs/{id}...: a view into the request path
  std::string_view allowed;  // for method_not_allowed: the Allow header value
  std::string_view name;     // route template, the label of metrics and logs
};

RouteMatch match_route(Method method, std::string_view path);

}  // namespace jobd::http
