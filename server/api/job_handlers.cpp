// The jobs resource: POST /v1/jobs, GET /v1/jobs, GET and DELETE /v1/jobs/{id}. Admission,
// deadlines and cancellation are the scheduler's; these functions turn its answers into HTTP.
#include <charconv>
#include <nlohmann/json.hpp>

#include "api/api.hpp"
#include "api/query.hpp"
#include "http/json_body.hpp"
#include "jobs/record.hpp"
#include "jobs/scheduler.hpp"

namespace jobd::api {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using proto::Problem;
namespace problems = proto::problems;

namespace {
// What follows the items of a page: `],"next_cursor":"` + 20 digits + `"}`.
constexpr std::size_t kPageTailBytes = 40;
}  // namespace

std::variant<proto::JobSpec, Problem> Api::parse_submission(const Request& request) const {
  if (auto problem = http::check_json_body(request.content_type, request.body, options_.max_json_depth)) {
    return std::move(*problem);
  }
  // The usual body without a document for it (~12 allocations fewer per submit); anything else,
  // and every refusal, by the document.
  if (auto spec = proto::parse_common_job_spec(request.body)) return std::move(*spec);
  auto body = http::parse_json_body(request.content_type, request.body, options_.max_json_depth);
  if (auto* problem = std::get_if<Problem>(&body)) return std::move(*problem);
  return proto::parse_job_spec(std::move(std::get<nlohmann::json>(body)));  // params moved, not copied
}

Response Api::record_response(unsigned status, std::string record) {
  Response response;
  response.status = status;
  response.body = std::move(record);
  return response;
}

asio::awaitable<Response> Api::submit(const Request& request, std::string_view) {
  auto wait = parse_wait(request.query(), options_.max_wait);
  if (auto* problem = std::get_if<Problem>(&wait)) co_return Response::problem(*problem);
  auto spec = parse_submission(request);
  if (auto* problem = std::get_if<Problem>(&spec)) co_return Response::problem(*problem);
  if (options_.cluster) {
    co_return co_await submit_shared(std::get<proto::JobSpec>(std::move(spec)),
                                     std::get<std::chrono::milliseconds>(wait));
  }

  const auto wait_for = std::get<std::chrono::milliseconds>(wait);
  auto submitted = scheduler_.submit(std::get<proto::JobSpec>(std::move(spec)), wait_for.count() > 0);
  if (auto* problem = std::get_if<Problem>(&submitted)) co_return Response::problem(*problem);
  auto [job, replayed] = std::get<jobs::Submitted>(submitted);
  const auto seq = job->seq;
  std::string location = "/v1/jobs/" + job->id;
  const auto not_stored = [this] {
    return Response::problem(Problem{problems::store_unavailable,
                                     "the job was not stored before the wait ended", std::nullopt,
                                     scheduler_.options().retry_after_s});
  };
  // Nothing is acknowledged before it is committed (a durable store): the answer waits for the
  // job's insert. A replay waits too, when the first submit is still waiting. A held insert
  // (the submit waits for the end) is written with the final state, or after the wait below.
  if (!scheduler_.table().committed(*job) && !jobs::JobTable::insert_held(*job)) {
    if (!co_await scheduler_.wait_committed(seq)) co_return not_stored();
    job = scheduler_.table().get(seq);
    if (job == nullptr) {
      co_return Response::problem(
          Problem{problems::job_not_found, "job was evicted (--max-jobs)", std::nullopt, std::nullopt});
    }
  }
  std::optional<std::string> record;
  bool final = proto::is_final(job->state);
  if (!final && wait_for.count() > 0) {
    auto done = co_await scheduler_.wait_final(seq, std::chrono::steady_clock::now() + wait_for);
    if (done) {
      record = std::move(done);
      final = true;
    }
  }
  if (!record && !scheduler_.table().committed(seq)) {
    // The wait ran out first, and the job's insert was held: a 202 only once it is committed.
    if (!co_await scheduler_.wait_committed(seq)) co_return not_stored();
  }
  if (!record) {
    const jobs::Job* current = scheduler_.table().get(seq);
    if (current == nullptr) {
      co_return Response::problem(
          Problem{problems::job_not_found, "job was evicted (--max-jobs)", std::nullopt, std::nullopt});
    }
    record = jobs::render_record(*current);
  }
  // 200 when the caller gets the finished job, 202 when it is still on its way.
  Response response = record_response(final && wait_for.count() > 0 ? 200 : 202, std::move(*record));
  response.headers.emplace_back("Location", std::move(location));
  if (replayed) response.headers.emplace_back("Idempotent-Replayed", "true");
  co_return response;
}

asio::awaitable<Response> Api::get_job(const Request& request, std::string_view job_id) {
  auto wait = parse_wait(request.query(), options_.max_wait);
  if (auto* problem = std::get_if<Problem>(&wait)) co_return Response::problem(*problem);
  if (options_.cluster) {
    std::string id(job_id);  // a named local: no temporary in a co_await (DESIGN §9)
    co_return co_await get_shared(std::move(id), std::get<std::chrono::milliseconds>(wait));
  }
  const jobs::Job* job = scheduler_.table().get(job_id);
  if (job == nullptr) {
    co_return Response::problem(
        Problem{problems::job_not_found, "no job with that id", std::nullopt, std::nullopt});
  }
  const auto wait_for = std::get<std::chrono::milliseconds>(wait);
  if (!proto::is_final(job->state) && wait_for.count() > 0) {
    const auto seq = job->seq;
    auto done = co_await scheduler_.wait_final(seq, std::chrono::steady_clock::now() + wait_for);
    if (done) co_return record_response(200, std::move(*done));
    job = scheduler_.table().get(seq);
    if (job == nullptr) {
      co_return Response::problem(
          Problem{problems::job_not_found, "job was evicted", std::nullopt, std::nullopt});
    }
  }
  co_return record_response(200, jobs::render_record(*job));
}

asio::awaitable<Response> Api::cancel_job(const Request&, std::string_view job_id) {
  if (options_.cluster) {
    std::string id(job_id);
    co_return co_await cancel_shared(std::move(id));
  }
  auto cancelled = scheduler_.cancel(job_id);
  if (auto* problem = std::get_if<Problem>(&cancelled)) co_return Response::problem(*problem);
  const jobs::Job* stopped = std::get<const jobs::Job*>(cancelled);
  const jobs::JobSeq seq = stopped->seq;
  // Stopped at once, but its final state waits for its commit (a durable store): answer with it.
  if (scheduler_.table().final_pending(*stopped)) {
    const bool applied = co_await scheduler_.wait_final_applied(seq);
    if (!applied)
      co_return Response::problem(Problem{problems::store_unavailable,
                                          "the cancel was not stored before the wait ended", std::nullopt,
                                          scheduler_.options().retry_after_s});
  }
  const jobs::Job* job = scheduler_.table().get(seq);
  if (job == nullptr) {
    co_return Response::problem(
        Problem{problems::job_not_found, "job was evicted", std::nullopt, std::nullopt});
  }
  // 200 when the job is already stopped; 202 when its executor is still stopping it.
  co_return record_response(proto::is_final(job->state) ? 200 : 202, jobs::render_record(*job));
}

std::variant<std::pair<jobs::ListFilter, jobs::RecordView>, Problem> Api::parse_list_query(
    const Request& request) const {
  jobs::ListFilter filter;
  const auto query = request.query();
  auto state = parse_state(query);
  if (auto* problem = std::get_if<Problem>(&state)) return std::move(*problem);
  filter.state = std::get<std::optional<proto::JobState>>(state);
  if (auto kind = http::query_param(query, "kind")) filter.kind = *kind;
  if (auto limit = http::query_param(query, "limit")) {
    std::size_t value = 0;
    auto [end, error] = std::from_chars(limit->data(), limit->data() + limit->size(), value);
    if (error != std::errc() || end != limit->data() + limit->size() || value == 0 ||
        value > options_.max_list_limit) {
      return query_problem("limit",
                           "must be an integer from 1 to " + std::to_string(options_.max_list_limit));
    }
    filter.limit = value;
  }
  if (auto cursor = http::query_param(query, "cursor")) {
    jobs::JobSeq value = 0;
    auto [end, error] = std::from_chars(cursor->data(), cursor->data() + cursor->size(), value);
    if (error != std::errc() || end != cursor->data() + cursor->size()) {
      return query_problem("cursor", "is not a cursor this server returned");
    }
    filter.before = value;
  }
  auto fields = parse_fields(query);
  if (auto* problem = std::get_if<Problem>(&fields)) return std::move(*problem);
  return std::pair{std::move(filter), jobs::RecordView{.fields = std::get<jobs::RecordFields>(fields)}};
}

Response Api::list_jobs(const Request& request, std::string_view) {
  auto parsed = parse_list_query(request);
  if (auto* problem = std::get_if<Problem>(&parsed)) return Response::problem(*problem);
  auto& [filter, view] = std::get<0>(parsed);

  // The page is written as it is rendered, and ends early, with a cursor, before an item that
  // would take it past --max-list-bytes; the first item is always there, however big.
  const auto page = scheduler_.table().list(filter);
  auto next_cursor = page.next_cursor;
  Response response;
  std::string& body = response.body;
  body = "{\"jobs\":[";
  for (std::size_t i = 0; i < page.jobs.size(); ++i) {
    const std::size_t before = body.size();
    if (i > 0) body += ',';
    jobs::append_record(body, *page.jobs[i], view);
    if (i > 0 && body.size() + kPageTailBytes > options_.max_list_bytes) {
      body.resize(before);
      next_cursor = page.jobs[i - 1]->seq;
      break;
    }
  }
  body += "],\"next_cursor\":";
  if (next_cursor) {
    body += '"';
    body += std::to_string(*next_cursor);
    body += "\"}";
  } else {
    body += "null}";
  }
  return response;
}

}  // namespace jobd::api
