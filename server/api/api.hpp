// The HTTP API v1 (DESIGN §3): the route table and one function from request to response per
// route. It implements the HTTP shell's Handler; handlers never touch a socket, and the ones
// that wait (?wait=) are coroutines on the loop. Loop thread only.
//
// Adding a route: one entry in Api::routes() (api.cpp) and its handler below. Nothing in http/
// changes.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "api/auth.hpp"
#include "api/event_stream.hpp"
#include "api/routes.hpp"
#include "http/handler.hpp"
#include "http/message.hpp"
#include "jobd/proto/job_spec.hpp"
#include "jobd/proto/problem.hpp"
#include "jobs/job_table.hpp"
#include "jobs/record.hpp"
#include "store/job_store.hpp"

namespace jobd::kinds {
class KindRegistry;
}
namespace jobd::jobs {
class Scheduler;
}
namespace jobd::cluster {
class Cluster;
}

namespace jobd::api {

// What /healthz says of the store.
struct StoreInfo {
  std::string uri = "memory:";
  std::string durability = "process";
};

struct ApiOptions {
  std::chrono::milliseconds max_wait{std::chrono::seconds(60)};  // largest ?wait= accepted
  std::size_t max_json_depth = 64;
  std::size_t max_list_limit = 1000;       // largest ?limit= of GET /v1/jobs
  std::uint64_t max_list_bytes = 4 << 20;  // a page of GET /v1/jobs ends before passing this
  EventStreamOptions events;
  TokenSet tokens;              // empty: no authentication
  bool metrics_public = false;  // with tokens: whether /metrics is open too
  StoreInfo store;
  // Set (--store redis://): jobs are submitted to, read from and cancelled through the replicas'
  // shared store (cluster/cluster.hpp), whatever replica holds them.
  cluster::Cluster* cluster = nullptr;
  // POST /v1/store/backup asks this store for a copy (null: backups are not available).
  store::JobStore* backups = nullptr;
};

class Api final : public http::Handler {
 public:
  Api(boost::asio::any_io_executor loop, jobs::Scheduler& scheduler, const kinds::KindRegistry& kinds,
      ApiOptions options);
  // GET /metrics is answered by this function when set (the metrics module owns the text).
  void serve_metrics(std::function<std::string()> render) { render_metrics_ = std::move(render); }
  std::size_t open_event_streams() const { return open_streams_; }

  // Matches the route, checks the token, and answers (at once for all but the long-polls).
  http::Answer handle(const http::Request& request) override;

  // Every route of the API, in match order (each with its handler on a shared store, if any).
  static std::span<const Route> routes();

 private:
  // 401 when tokens are configured, the route needs one and the request names none of them.
  std::optional<http::Response> refuse_unauthorized(const http::Request& request, Access access) const;
  // 404 or 405 + Allow, from the table.
  static http::Response unrouted(const http::Request& request, const RouteMatch& match);
  // A job record (JSON text, jobs/record.hpp) as the answer (job_handlers.cpp).
  static http::Response record_response(unsigned status, std::string record);

  // Probes, catalog, metrics (api.cpp).
  http::Response healthz(const http::Request& request, std::string_view);
  http::Response readiness(const http::Request& request, std::string_view);
  http::Response kinds(const http::Request& request, std::string_view);
  // The dashboard's files and the OpenAPI document, compiled in (api/ui_assets.hpp).
  http::Response ui_file(const http::Request& request, std::string_view);
  http::Response metrics(const http::Request& request, std::string_view);
  // The jobs resource (job_handlers.cpp).
  boost::asio::awaitable<http::Response> submit(const http::Request& request, std::string_view);
  // The body of POST /v1/jobs as a spec, or its 400/415.
  std::variant<proto::JobSpec, proto::Problem> parse_submission(const http::Request& request) const;
  http::Response list_jobs(const http::Request& request, std::string_view);
  // GET /v1/jobs on a shared store (cluster_handlers.cpp): the route's `shared` handler.
  boost::asio::awaitable<http::Response> list_shared(const http::Request& request, std::string_view);
  // The query of GET /v1/jobs: the filter and the record view, or a 400.
  std::variant<std::pair<jobs::ListFilter, jobs::RecordView>, proto::Problem> parse_list_query(
      const http::Request& request) const;
  // The jobs resource on a shared store (cluster_handlers.cpp).
  boost::asio::awaitable<http::Response> submit_shared(proto::JobSpec spec, std::chrono::milliseconds wait);
  boost::asio::awaitable<http::Response> get_shared(std::string job_id, std::chrono::milliseconds wait);
  boost::asio::awaitable<http::Response> cancel_shared(std::string job_id);
  // The job store's health: the local one, or the shared one.
  store::StoreHealth store_health() const;
  boost::asio::awaitable<http::Response> get_job(const http::Request& request, std::string_view job_id);
  boost::asio::awaitable<http::Response> cancel_job(const http::Request& request, std::string_view job_id);
  // POST /v1/store/backup (store_handlers.cpp): waits for the copy, answers where it went.
  boost::asio::awaitable<http::Response> backup_store(const http::Request& request, std::string_view);
  // Event streams (event_handlers.cpp).
  http::Response job_events(const http::Request& request, std::string_view job_id);
  // GET /v1/jobs/{id}/events on a shared store: the route's `shared` handler.
  boost::asio::awaitable<http::Response> job_events_shared(const http::Request& request,
                                                           std::string_view job_id);
  // The Last-Event-ID header or ?last_event_id= (0: from the start), or a 400.
  static std::variant<std::uint64_t, proto::Problem> resume_point(const http::Request& request);
  http::Response all_events(const http::Request& request, std::string_view);

  boost::asio::any_io_executor loop_;
  jobs::Scheduler& scheduler_;
  ApiOptions options_;
  std::vector<Route> routes_;    // what handle() matches: routes(), on_shared_store() on replicas
  EventFanout event_fanout_;     // writes every GET /v1/events stream, on a thread of its own
  AllEventsHub all_events_hub_;  // behind every GET /v1/events stream
  std::size_t open_streams_ = 0;
  std::function<std::string()> render_metrics_;
  std::string kinds_body_;      // the catalog never changes after start-up: rendered once
  std::string healthz_prefix_;  // /healthz up to the store's "ok" value
  std::string healthz_ok_;      // the whole answer while the store is healthy
};

}  // namespace jobd::api
