// Client: a synchronous-looking HTTP client for jobd's API v1. Each call runs Beast coroutines
// on the client's own io_context until the answer is in, over one keep-alive connection that is
// reopened when the server has closed it. The Asio/Beast machinery stays behind the pimpl, so
// this header is cheap to include. Not thread-safe: one Client per thread.
//
// A call answers with a Reply whether the server said yes or no: transport failures (no
// connection, timeout, cut-off answer) are values too (`status == 0`, `error` set), because a
// CLI maps every outcome to an exit code rather than unwinding.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "jobd/client/sse.hpp"
#include "jobd/client/url.hpp"

namespace jobd::client {

using namespace std::chrono_literals;

// How long the server may hold a ?wait= long poll (jobd's --max-wait default).
inline constexpr std::chrono::milliseconds kServerMaxWait = 60s;
inline constexpr std::chrono::milliseconds kDefaultConnectTimeout = 10s;
inline constexpr std::chrono::milliseconds kDefaultRequestTimeout = 30s;
inline constexpr std::chrono::milliseconds kBackupWait = 10min;
// Largest response body accepted (a page of 1000 job records with capped output fits).
inline constexpr std::uint64_t kMaxResponseBytes = 256ull << 20;

struct ClientOptions {
  std::string url = std::string(kDefaultUrl);
  std::string token;  // sent as "Authorization: Bearer <token>" when not empty
  std::chrono::milliseconds connect_timeout = kDefaultConnectTimeout;
  // Per request, on top of any ?wait= the request carries.
  std::chrono::milliseconds request_timeout = kDefaultRequestTimeout;
  std::string user_agent = "jobctl/0.1";
};

// The `type`/`title`/`detail` of an application/problem+json answer.
struct ProblemInfo {
  std::string type;
  std::string title;
  std::string detail;
  std::string pointer;
};

struct Reply {
  std::error_code error;   // transport failure; then status is 0
  std::string error_text;  // what failed, e.g. "connect to 127.0.0.1:8080: Connection refused"
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  bool transport_failed() const { return status == 0; }
  bool success() const { return status >= 200 && status < 300; }
  // The first header of that name (case-insensitive), or "".
  std::string header(std::string_view name) const;
  // The body as JSON; a discarded value (is_discarded()) when it is not JSON.
  nlohmann::json json() const;
  // Set when the body is a problem document.
  std::optional<ProblemInfo> problem() const;
  // One line for stderr: "connect to ...: Connection refused" or "HTTP 404 job-not-found: no job
  // with that id".
  std::string describe() const;
};

struct ListQuery {
  std::optional<std::string> state;
  std::optional<std::string> kind;
  std::optional<std::size_t> limit;
  std::optional<std::string> cursor;
  bool full = false;  // ?fields=full: whole records instead of summaries (no params, result, output)
};

class Client {
 public:
  // Throws std::invalid_argument when options.url does not parse (see parse_url).
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  const Endpoint& endpoint() const;

  // Any request; `target` is the path and query below the URL's base path ("/v1/kinds").
  // `long_poll` extends the timeout by that much (a ?wait= the server may hold).
  Reply request(std::string_view method, std::string_view target, std::string_view body = {},
                std::string_view content_type = {}, std::chrono::milliseconds long_poll = 0ms);

  // POST /v1/jobs[?wait=]: `spec` is the body ({"kind", "params", ...}).
  Reply submit(const nlohmann::json& spec, std::chrono::milliseconds wait = 0ms);
  // GET /v1/jobs/{id}[?wait=].
  Reply job(std::string_view id, std::chrono::milliseconds wait = 0ms);
  // Long-polls GET /v1/jobs/{id}?wait= in slices of at most kServerMaxWait until the job is in a
  // final state or `limit` has passed (none: no limit). The last reply is returned; a 200 whose
  // job is not final means the limit ran out first.
  Reply wait(std::string_view id, std::optional<std::chrono::milliseconds> limit);
  // DELETE /v1/jobs/{id}.
  Reply cancel(std::string_view id);
  // GET /v1/jobs with the query's filters.
  Reply list(const ListQuery& query);
  Reply kinds();
  // POST /v1/store/backup: the server answers once the copy is written, which for a large store
  // takes seconds (about 1 s per million jobs), so this waits up to kBackupWait beyond the
  // request timeout.
  Reply backup_store();
  Reply healthz();
  Reply readyz();
  // GET /v1/jobs/{id}/events: calls `on_event` for each event as it arrives until the server
  // ends the stream, `on_event` returns false, or the connection fails. `idle_timeout` bounds
  // the silence between two reads (0: none). The reply carries the status (and for a refusal,
  // the body); its `error` is set when the stream broke off.
  Reply events(std::string_view id, const SseParser::Sink& on_event, std::string_view last_event_id = {},
               std::chrono::milliseconds idle_timeout = 0ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True for the JSON of a job whose state is final (succeeded, failed, cancelled, timed_out).
bool is_final_state(std::string_view state);

// ?wait= text for a duration, in seconds with millisecond precision ("1.5").
std::string wait_seconds(std::chrono::milliseconds wait);

}  // namespace jobd::client
