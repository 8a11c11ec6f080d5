// The jobs resource: POST /v1/jobs, GET /v1/jobs, GET and DELETE /v1/jobs/{id}. Admission,
// deadlines and cancellation are the scheduler's; these functions turn its answers into HTTP.
#include <charconv>
#include <nlohmann/json.hpp>

#include "api/api.hpp"
#include "api/query.hpp"
#include "http/json_body.hpp"
#include "jobs/scheduler.hpp"

namespace jobd::api {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using proto::Problem;
namespace problems = proto::problems;

namespace {
Response job_response(unsigned status, const nlohmann::json& record) {
  Response response = Response::json(status, record);
  response.headers.emplace_back("Location", "/v1/jobs/" + record.at("id").get<std::string>());
  return response;
}
}  // namespace

asio::awaitable<Response> Api::submit(Request request, std::string) {
  auto wait = parse_wait(request.query(), options_.max_wait);
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
  auto wait = parse_wait(request.query(), options_.max_wait);
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

Response Api::cancel_job(const Request&, std::string_view job_id) {
  auto cancelled = scheduler_.cancel(job_id);
  if (auto* problem = std::get_if<Problem>(&cancelled)) return Response::problem(*problem);
  const jobs::Job& job = *std::get<const jobs::Job*>(cancelled);
  // 200 when the job is already stopped; 202 when its executor is still stopping it.
  return Response::json(proto::is_final(job.state) ? 200 : 202, jobs::to_json(job));
}

Response Api::list_jobs(const Request& request, std::string_view) {
  jobs::ListFilter filter;
  const auto query = request.query();
  auto state = parse_state(query);
  if (auto* problem = std::get_if<Problem>(&state)) return Response::problem(*problem);
  filter.state = std::get<std::optional<proto::JobState>>(state);
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
