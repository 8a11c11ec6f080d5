// The HTTP API v1 (DESIGN §3): one function from request to response per route. Handlers never
// touch a socket; the ones that wait (?wait=) are coroutines on the loop.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "api/auth.hpp"
#include "api/event_stream.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

namespace jobd::kinds {
class KindRegistry;
}
namespace jobd::jobs {
class Scheduler;
}

namespace jobd::api {

struct ApiOptions {
  std::chrono::milliseconds max_wait{std::chrono::seconds(60)};  // largest ?wait= accepted
  std::size_t max_json_depth = 64;
  std::size_t max_list_limit = 1000;  // largest ?limit= of GET /v1/jobs
  EventStreamOptions events;
  TokenSet tokens;              // empty: no authentication
  bool metrics_public = false;  // with tokens: whether /metrics is open too
};

class Api {
 public:
  Api(boost::asio::any_io_executor loop, jobs::Scheduler& scheduler, const kinds::KindRegistry& kinds,
      ApiOptions options);
  // GET /metrics is answered by this function when set (the metrics module owns the text).
  void serve_metrics(std::function<std::string()> render) { render_metrics_ = std::move(render); }
  std::size_t open_event_streams() const { return open_streams_; }

  boost::asio::awaitable<http::Response> handle(http::Request request, http::RouteMatch match);
  // The routes that never wait, answered without a coroutine frame.
  http::Response handle_now(const http::Request& request, const http::RouteMatch& match);
  static bool answers_now(http::Route route);

 private:
  boost::asio::awaitable<http::Response> submit(http::Request request);
  boost::asio::awaitable<http::Response> get_job(http::Request request, std::string job_id);
  http::Response cancel_job(std::string_view job_id);
  http::Response list_jobs(const http::Request& request);
  http::Response readiness() const;
  // 401 when tokens are configured and the request names none of them; nullopt when allowed.
  std::optional<http::Response> refuse_unauthorized(const http::Request& request, http::Route route) const;
  http::Response job_events(const http::Request& request, std::string_view job_id);
  http::Response all_events(const http::Request& request);

  boost::asio::any_io_executor loop_;
  jobs::Scheduler& scheduler_;
  ApiOptions options_;
  std::size_t open_streams_ = 0;
  std::function<std::string()> render_metrics_;
  std::string kinds_body_;  // the catalog never changes after start-up: rendered once
};

}  // namespace jobd::api
