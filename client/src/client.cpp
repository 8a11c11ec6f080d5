#include "jobd/client/client.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <stdexcept>

#include "http_connection.hpp"

namespace jobd::client {

namespace asio = boost::asio;
using detail::HttpConnection;
using detail::HttpRequest;

namespace {

constexpr std::string_view kJson = "application/json";
// When the server's --max-wait is below ours it refuses ?wait= with invalid-query; the wait loop
// then halves its slice down to this.
constexpr std::chrono::milliseconds kMinWaitSlice = 1s;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// "/problems/job-not-found" -> "job-not-found": what a one-line message needs.
std::string_view short_type(std::string_view type) {
  const auto slash = type.rfind('/');
  return slash == std::string_view::npos ? type : type.substr(slash + 1);
}

}  // namespace

// --- Reply -------------------------------------------------------------------------------------

std::string Reply::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return {};
}

nlohmann::json Reply::json() const { return nlohmann::json::parse(body, nullptr, false); }

std::optional<ProblemInfo> Reply::problem() const {
  const nlohmann::json document = json();
  if (!document.is_object() || !document.contains("type") || !document["type"].is_string())
    return std::nullopt;
  ProblemInfo info;
  info.type = document["type"].get<std::string>();
  info.title = document.value("title", "");
  info.detail = document.value("detail", "");
  info.pointer = document.value("pointer", "");
  return info;
}

std::string Reply::describe() const {
  if (transport_failed()) return error_text.empty() ? error.message() : error_text;
  std::string text = "HTTP " + std::to_string(status);
  if (auto info = problem()) {
    text += " " + std::string(short_type(info->type));
    const std::string& detail = info->detail.empty() ? info->title : info->detail;
    if (!detail.empty()) text += ": " + detail;
    if (!info->pointer.empty()) text += " (at " + info->pointer + ")";
  } else if (!body.empty() && body.size() <= 200 && body.find('\n') == std::string::npos) {
    text += ": " + body;
  }
  if (auto retry = header("Retry-After"); !retry.empty()) text += " (retry after " + retry + " s)";
  return text;
}

bool is_final_state(std::string_view state) {
  return state == "succeeded" || state == "failed" || state == "cancelled" || state == "timed_out";
}

std::string wait_seconds(std::chrono::milliseconds wait) {
  const auto ms = wait.count() < 0 ? 0 : wait.count();
  std::string text = std::to_string(ms / 1000);
  if (const auto fraction = ms % 1000; fraction != 0) {
    std::string digits = std::to_string(1000 + fraction).substr(1);  // zero-padded to 3
    while (digits.back() == '0') digits.pop_back();
    text += "." + digits;
  }
  return text;
}

// --- Client ------------------------------------------------------------------------------------

struct Client::Impl {
  ClientOptions options;
  Endpoint endpoint;
  asio::io_context io;
  std::unique_ptr<HttpConnection> connection;

  // Runs one coroutine on the client's io_context until it is done: the synchronous face.
  template <typename T>
  T run(asio::awaitable<T> task) {
    io.restart();
    T out{};
    std::exception_ptr failure;
    asio::co_spawn(io, std::move(task), [&](std::exception_ptr error, T value) {
      failure = std::move(error);
      out = std::move(value);
    });
    io.run();
    if (failure) std::rethrow_exception(failure);
    return out;
  }

  HttpRequest make(std::string_view method, std::string_view target) const {
    HttpRequest request;
    request.method = method;
    request.target = endpoint.base_path + std::string(target);
    return request;
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  std::string error;
  auto endpoint = parse_url(options.url, error);
  if (!endpoint) throw std::invalid_argument(error);
  impl_->endpoint = std::move(*endpoint);
  impl_->options = std::move(options);
  impl_->connection =
      std::make_unique<HttpConnection>(impl_->io.get_executor(), impl_->endpoint, impl_->options);
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const Endpoint& Client::endpoint() const { return impl_->endpoint; }

Reply Client::request(std::string_view method, std::string_view target, std::string_view body,
                      std::string_view content_type, std::chrono::milliseconds long_poll) {
  HttpRequest request = impl_->make(method, target);
  request.body = std::string(body);
  request.content_type = std::string(content_type);
  const auto timeout = impl_->options.request_timeout + long_poll;
  return impl_->run(impl_->connection->exchange(request, timeout));
}

Reply Client::submit(const nlohmann::json& spec, std::chrono::milliseconds wait) {
  std::string target = "/v1/jobs";
  if (wait.count() > 0) target += "?wait=" + wait_seconds(wait);
  return request("POST", target, spec.dump(), kJson, wait);
}

Reply Client::job(std::string_view id, std::chrono::milliseconds wait) {
  std::string target = "/v1/jobs/" + encode_query_value(id);
  if (wait.count() > 0) target += "?wait=" + wait_seconds(wait);
  return request("GET", target, {}, {}, wait);
}

Reply Client::wait(std::string_view id, std::optional<std::chrono::milliseconds> limit) {
  using Clock = std::chrono::steady_clock;
  const bool limited = limit.has_value();
  const auto deadline = Clock::now() + limit.value_or(0ms);
  auto slice = kServerMaxWait;
  for (;;) {
    auto this_wait = slice;
    if (limited) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      this_wait = std::clamp(left, 0ms, slice);
    }
    Reply reply = job(id, this_wait);
    if (reply.status == 400 && slice > kMinWaitSlice) {
      if (auto info = reply.problem(); info && short_type(info->type) == "invalid-query") {
        slice = std::max(slice / 2, kMinWaitSlice);
        continue;
      }
    }
    if (!reply.success()) return reply;
    const nlohmann::json record = reply.json();
    if (!record.is_object() || is_final_state(record.value("state", ""))) return reply;
    if (limited && Clock::now() >= deadline) return reply;
  }
}

Reply Client::cancel(std::string_view id) { return request("DELETE", "/v1/jobs/" + encode_query_value(id)); }

Reply Client::list(const ListQuery& query) {
  std::string target = "/v1/jobs";
  char separator = '?';
  auto add = [&](std::string_view name, const std::string& value) {
    target += separator;
    target += name;
    target += '=';
    target += encode_query_value(value);
    separator = '&';
  };
  if (query.state) add("state", *query.state);
  if (query.kind) add("kind", *query.kind);
  if (query.limit) add("limit", std::to_string(*query.limit));
  if (query.cursor) add("cursor", *query.cursor);
  if (query.full) add("fields", "full");
  return request("GET", target);
}

Reply Client::kinds() { return request("GET", "/v1/kinds"); }
Reply Client::backup_store() { return request("POST", "/v1/store/backup", {}, {}, kBackupWait); }
Reply Client::healthz() { return request("GET", "/healthz"); }
Reply Client::readyz() { return request("GET", "/readyz"); }

Reply Client::events(std::string_view id, const SseParser::Sink& on_event, std::string_view last_event_id,
                     std::chrono::milliseconds idle_timeout) {
  HttpRequest request = impl_->make("GET", "/v1/jobs/" + encode_query_value(id) + "/events");
  request.accept = "text/event-stream";
  request.last_event_id = std::string(last_event_id);
  SseParser parser(on_event);
  // A named std::function: the coroutine keeps a reference to it while it runs.
  const std::function<bool(std::string_view)> feed = [&parser](std::string_view chunk) {
    return parser.feed(chunk);
  };
  return impl_->run(impl_->connection->stream(request, impl_->options.request_timeout, idle_timeout, feed));
}

}  // namespace jobd::client
