// The state metrics: gauges and counters read at scrape time from what owns the state (the
// executors, the HTTP server, the API, the job table), so that nothing on the loop's path updates
// them.
#pragma once

namespace jobd::api {
class Api;
}
namespace jobd::http {
class HttpServer;
}
namespace jobd::jobs {
class Scheduler;
}
namespace jobd::metrics {
class Registry;
}

namespace jobd::app {

void register_state_metrics(metrics::Registry& registry, const jobs::Scheduler& scheduler,
                            const http::HttpServer& server, const api::Api& api);

}  // namespace jobd::app
