// The jobs resource when replicas share their jobs on Redis (--store redis://): the same answers
// as job_handlers.cpp, from the shared store (cluster/cluster.hpp), so any replica answers for
// any job. Redis away: 503 store-unavailable with Retry-After, never a 404 it cannot know.
#include "cluster/cluster.hpp"

#include "api/api.hpp"
#include "jobs/scheduler.hpp"

namespace jobd::api {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using proto::Problem;

store::StoreHealth Api::store_health() const {
  return options_.cluster ? options_.cluster->health() : scheduler_.table().store_health();
}

asio::awaitable<Response> Api::submit_shared(proto::JobSpec spec, std::chrono::milliseconds wait) {
  auto submitted = co_await options_.cluster->submit(std::move(spec));
  if (auto* problem = std::get_if<Problem>(&submitted)) co_return Response::problem(*problem);
  auto& answer = std::get<cluster::SubmitAnswer>(submitted);
  bool final = answer.final;
  if (!final && wait.count() > 0) {
    auto done = co_await options_.cluster->wait_final(answer.id, std::chrono::steady_clock::now() + wait);
    if (done) {
      answer.record = std::move(*done);
      final = true;
    }
  }
  // 200 when the caller gets the finished job, 202 when it is still on its way.
  Response response = record_response(final && wait.count() > 0 ? 200 : 202, std::move(answer.record));
  response.headers.emplace_back("Location", "/v1/jobs/" + answer.id);
  if (answer.replayed) response.headers.emplace_back("Idempotent-Replayed", "true");
  co_return response;
}

asio::awaitable<Response> Api::get_shared(std::string job_id, std::chrono::milliseconds wait) {
  if (wait.count() > 0) {
    auto done = co_await options_.cluster->wait_final(job_id, std::chrono::steady_clock::now() + wait);
    if (done) co_return record_response(200, std::move(*done));
  }
  auto read = co_await options_.cluster->get(std::move(job_id));
  if (auto* problem = std::get_if<Problem>(&read)) co_return Response::problem(*problem);
  co_return record_response(200, std::move(std::get<cluster::RecordAnswer>(read).record));
}

asio::awaitable<Response> Api::cancel_shared(std::string job_id) {
  auto cancelled = co_await options_.cluster->cancel(std::move(job_id));
  if (auto* problem = std::get_if<Problem>(&cancelled)) co_return Response::problem(*problem);
  auto& answer = std::get<cluster::RecordAnswer>(cancelled);
  // 200 when the job is already stopped; 202 when its replica is still stopping it.
  co_return record_response(answer.final ? 200 : 202, std::move(answer.record));
}

asio::awaitable<Response> Api::list_shared(const Request& request, std::string_view) {
  auto parsed = parse_list_query(request);
  if (auto* problem = std::get_if<Problem>(&parsed)) co_return Response::problem(*problem);
  auto& [filter, view] = std::get<0>(parsed);
  cluster::ListQuery query{filter.state, filter.kind, filter.limit, filter.before, view};
  auto page = co_await options_.cluster->list(std::move(query));
  if (auto* problem = std::get_if<Problem>(&page)) co_return Response::problem(*problem);
  Response response;
  response.body = std::move(std::get<std::string>(page));
  co_return response;
}

}  // namespace jobd::api
