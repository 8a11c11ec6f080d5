#include "api/query.hpp"

#include <charconv>
#include <cmath>

#include "http/message.hpp"

namespace jobd::api {

using proto::Problem;

Problem query_problem(const std::string& name, std::string detail) {
  return Problem{proto::problems::invalid_query, std::move(detail), "?" + name, std::nullopt};
}

std::variant<std::chrono::milliseconds, Problem> parse_wait(std::string_view query,
                                                            std::chrono::milliseconds max_wait) {
  auto text = http::query_param(query, "wait");
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

std::variant<std::optional<proto::JobState>, Problem> parse_state(std::string_view query) {
  auto text = http::query_param(query, "state");
  if (!text) return std::optional<proto::JobState>();
  auto state = proto::parse_job_state(*text);
  if (!state) {
    return query_problem("state", "must be one of: queued, running, succeeded, failed, cancelled, timed_out");
  }
  return state;
}

std::variant<jobs::RecordFields, Problem> parse_fields(std::string_view query) {
  auto text = http::query_param(query, "fields");
  if (!text || *text == "summary") return jobs::RecordFields::summary;
  if (*text == "full") return jobs::RecordFields::full;
  return query_problem("fields", "must be summary (the default: no params, result or output) or full");
}

}  // namespace jobd::api
