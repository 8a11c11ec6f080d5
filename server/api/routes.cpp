#include "api/routes.hpp"

namespace jobd::api {

namespace {

// Whether `path` matches `pattern`; the {id} segment, if any, goes to `id`.
bool matches(std::string_view pattern, std::string_view path, std::string_view& id) {
  const auto open = pattern.find('{');
  if (open == std::string_view::npos) return path == pattern;
  const std::string_view prefix = pattern.substr(0, open);
  const auto close = pattern.find('}', open);
  const std::string_view suffix = pattern.substr(close + 1);
  if (!path.starts_with(prefix)) return false;
  const std::string_view rest = path.substr(prefix.size());
  // {name*}: the rest of the path (a file under a folder); {name}: one segment.
  const bool greedy = pattern[close - 1] == '*';
  const std::string_view segment = greedy ? rest : rest.substr(0, rest.find('/'));
  if (segment.empty() || rest.substr(segment.size()) != suffix) return false;
  id = segment;
  return true;
}

}  // namespace

std::string MethodSet::allow_header() const {
  static constexpr http::Method kOrder[] = {http::Method::get,    http::Method::head,  http::Method::post,
                                            http::Method::put,    http::Method::patch, http::Method::delete_,
                                            http::Method::options};
  std::string allow;
  for (auto method : kOrder) {
    if (!admits(method)) continue;
    if (!allow.empty()) allow += ", ";
    allow += http::to_string(method);
  }
  return allow;
}

std::vector<Route> on_shared_store(std::span<const Route> table) {
  std::vector<Route> shared(table.begin(), table.end());
  for (Route& route : shared) {
    if (route.shared != nullptr) route.answer = route.shared;
  }
  return shared;
}

RouteMatch match_route(std::span<const Route> table, http::Method method, std::string_view path) {
  RouteMatch match;
  for (const Route& route : table) {
    std::string_view id;
    if (!matches(route.pattern, path, id)) continue;
    match.id = id;
    match.name = route.pattern;
    if (route.methods.admits(method)) {
      match.route = &route;
      return match;
    }
    match.allowed |= route.methods;
  }
  return match;
}

}  // namespace jobd::api
