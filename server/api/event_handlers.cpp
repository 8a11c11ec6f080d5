// The event streams: GET /v1/jobs/{id}/events and GET /v1/events. These functions check the
// request and hand back a Response whose body is an event stream (api/event_stream.hpp); the
// session writes it.
#include <charconv>

#include "api/api.hpp"
#include "api/query.hpp"
#include "api/shared_event_stream.hpp"
#include "jobs/scheduler.hpp"

namespace jobd::api {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using proto::Problem;
namespace problems = proto::problems;

namespace {
Response event_stream_response(std::shared_ptr<http::BodyStream> stream) {
  Response response;
  response.content_type = "text/event-stream";
  response.headers.emplace_back("Cache-Control", "no-cache");
  response.headers.emplace_back("X-Accel-Buffering", "no");  // nginx: do not buffer the stream
  response.stream = std::move(stream);
  return response;
}
}  // namespace

std::variant<std::uint64_t, Problem> Api::resume_point(const Request& request) {
  // Resume point: the Last-Event-ID header, or ?last_event_id= for clients that cannot set it.
  const bool from_header = !request.last_event_id.empty();
  std::string resume = request.last_event_id;
  if (!from_header) resume = http::query_param(request.query(), "last_event_id").value_or("");
  std::uint64_t after = 0;
  if (!resume.empty()) {
    auto [end, error] = std::from_chars(resume.data(), resume.data() + resume.size(), after);
    if (error != std::errc() || end != resume.data() + resume.size()) {
      // Name what the client sent: a header has no query pointer.
      if (from_header) {
        return Problem{problems::bad_request, "the Last-Event-ID header must be an event id this stream sent",
                       std::nullopt, std::nullopt};
      }
      return query_problem("last_event_id", "must be an event id this stream sent");
    }
  }
  return after;
}

Response Api::job_events(const Request& request, std::string_view job_id) {
  const jobs::Job* job = scheduler_.table().get(job_id);
  if (job == nullptr) {
    return Response::problem(
        Problem{problems::job_not_found, "no job with that id", std::nullopt, std::nullopt});
  }
  auto after = resume_point(request);
  if (auto* problem = std::get_if<Problem>(&after)) return Response::problem(*problem);
  return event_stream_response(std::make_shared<JobEventStream>(loop_, options_.events, scheduler_.table(),
                                                                *job, std::get<std::uint64_t>(after)));
}

asio::awaitable<Response> Api::job_events_shared(const Request& request, std::string_view job_id) {
  auto after = resume_point(request);
  if (auto* problem = std::get_if<Problem>(&after)) co_return Response::problem(*problem);
  const std::uint64_t from = std::get<std::uint64_t>(after);
  // Read before the stream starts: an unknown job is a 404, Redis away a 503, never a hang.
  std::string id(job_id);  // kept by the stream
  auto first = co_await options_.cluster->read_events(id, from);
  if (auto* problem = std::get_if<Problem>(&first)) co_return Response::problem(*problem);
  co_return event_stream_response(
      std::make_shared<SharedJobEventStream>(loop_, options_.events, *options_.cluster, std::move(id), from,
                                             std::get<cluster::JobEventPage>(first)));
}

Response Api::all_events(const Request& request, std::string_view) {
  const auto query = request.query();
  auto state = parse_state(query);
  if (auto* problem = std::get_if<Problem>(&state)) return Response::problem(*problem);
  return event_stream_response(std::make_shared<AllEventsStream>(
      loop_, options_.events, all_events_hub_,
      EventFilter{http::query_param(query, "kind"), std::get<std::optional<proto::JobState>>(state)}));
}

}  // namespace jobd::api
