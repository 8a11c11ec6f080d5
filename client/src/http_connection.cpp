#include "http_connection.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <boost/optional.hpp>

namespace jobd::client::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// Read size of an event stream's body: events are small; this bounds the stack array.
constexpr std::size_t kStreamChunk = std::size_t{16} * 1024;

bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "DELETE" || method == "OPTIONS";
}

// The errors that mean "the server had already closed this keep-alive connection".
bool stale_connection_error(const beast::error_code& error) {
  return error == bhttp::error::end_of_stream || error == asio::error::eof ||
         error == asio::error::connection_reset || error == asio::error::broken_pipe ||
         error == bhttp::error::partial_message;
}

bhttp::request<bhttp::string_body> make_message(const HttpRequest& request, const std::string& host,
                                                const std::string& user_agent,
                                                const std::string& authorization) {
  bhttp::request<bhttp::string_body> message;
  message.method_string(request.method);
  message.target(request.target);
  message.version(11);
  message.set(bhttp::field::host, host);
  message.set(bhttp::field::user_agent, user_agent);
  message.set(bhttp::field::accept, request.accept);
  if (!authorization.empty()) message.set(bhttp::field::authorization, authorization);
  if (!request.last_event_id.empty()) message.set("Last-Event-ID", request.last_event_id);
  if (!request.content_type.empty()) message.set(bhttp::field::content_type, request.content_type);
  message.body() = request.body;
  message.keep_alive(true);
  message.prepare_payload();
  return message;
}

template <typename Fields>
void copy_headers(const Fields& fields, Reply& reply) {
  for (const auto& field : fields) {
    reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
}

void fail(Reply& reply, const beast::error_code& error, std::string what) {
  reply.status = 0;
  reply.error = error;
  reply.error_text =
      std::move(what) + ": " + (error == beast::error::timeout ? std::string("timed out") : error.message());
}

}  // namespace

HttpConnection::HttpConnection(asio::any_io_executor executor, Endpoint endpoint,
                               const ClientOptions& options)
    : stream_(std::move(executor)),
      endpoint_(std::move(endpoint)),
      authorization_(options.token.empty() ? std::string() : "Bearer " + options.token),
      user_agent_(options.user_agent),
      connect_timeout_(options.connect_timeout) {}

std::string HttpConnection::authority() const { return endpoint_.host_header; }

void HttpConnection::close() {
  if (!open_) return;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
  buffer_.clear();
  open_ = false;
}

asio::awaitable<bool> HttpConnection::ensure_open(Reply& reply) {
  if (open_) co_return true;
  if (addresses_.empty()) {
    tcp::resolver resolver(stream_.get_executor());
    auto [error, results] = co_await resolver.async_resolve(endpoint_.host, endpoint_.port, use_tuple);
    if (error) {
      fail(reply, error, "resolve " + endpoint_.host);
      co_return false;
    }
    for (const auto& entry : results) addresses_.push_back(entry.endpoint());
  }
  stream_.expires_after(connect_timeout_);
  auto [error, connected] = co_await stream_.async_connect(addresses_, use_tuple);
  if (error) {
    stream_.close();
    fail(reply, error, "connect to " + authority());
    co_return false;
  }
  // Requests are small and answered one at a time: Nagle would only add delay.
  beast::error_code ignored;
  stream_.socket().set_option(tcp::no_delay(true), ignored);
  buffer_.clear();
  open_ = true;
  ++connects_;
  exchanges_on_this_connection_ = 0;
  co_return true;
}

asio::awaitable<Reply> HttpConnection::exchange(const HttpRequest& request,
                                                std::chrono::milliseconds timeout) {
  bool retry_safe = false;
  Reply reply = co_await exchange_once(request, timeout, retry_safe);
  if (reply.transport_failed() && retry_safe) {
    close();
    reply = co_await exchange_once(request, timeout, retry_safe);
  }
  co_return reply;
}

asio::awaitable<Reply> HttpConnection::exchange_once(const HttpRequest& request,
                                                     std::chrono::milliseconds timeout, bool& retry_safe) {
  retry_safe = false;
  Reply reply;
  const bool connected = co_await ensure_open(reply);  // not in the if: DESIGN §9, rule 3
  if (!connected) co_return reply;
  const bool reused = exchanges_on_this_connection_++ > 0;

  auto message = make_message(request, endpoint_.host_header, user_agent_, authorization_);
  stream_.expires_after(timeout);
  auto [write_error, written] = co_await bhttp::async_write(stream_, message, use_tuple);
  if (write_error) {
    retry_safe = reused && (idempotent(request.method) || stale_connection_error(write_error));
    close();
    fail(reply, write_error, "send to " + authority());
    co_return reply;
  }

  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  // A HEAD answer carries a Content-Length but no body.
  if (request.method == "HEAD") parser.skip(true);
  stream_.expires_after(timeout);
  auto [read_error, read] = co_await bhttp::async_read(stream_, buffer_, parser, use_tuple);
  if (read_error) {
    retry_safe =
        reused && !parser.got_some() && idempotent(request.method) && stale_connection_error(read_error);
    close();
    fail(reply, read_error, "read answer from " + authority());
    co_return reply;
  }
  auto response = parser.release();
  reply.status = response.result_int();
  copy_headers(response, reply);
  reply.body = std::move(response.body());
  if (!response.keep_alive()) close();
  co_return reply;
}

asio::awaitable<Reply> HttpConnection::stream(const HttpRequest& request,
                                              std::chrono::milliseconds header_timeout,
                                              std::chrono::milliseconds idle_timeout,
                                              const std::function<bool(std::string_view)>& on_body) {
  Reply reply;
  const bool connected = co_await ensure_open(reply);  // not in the if: DESIGN §9, rule 3
  if (!connected) co_return reply;
  auto message = make_message(request, endpoint_.host_header, user_agent_, authorization_);
  stream_.expires_after(header_timeout);
  auto [write_error, written] = co_await bhttp::async_write(stream_, message, use_tuple);
  if (write_error) {
    close();
    fail(reply, write_error, "send to " + authority());
    co_return reply;
  }

  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(boost::none);  // an event stream's length is not known in advance
  auto [header_error, header_bytes] = co_await bhttp::async_read_header(stream_, buffer_, parser, use_tuple);
  if (header_error) {
    close();
    fail(reply, header_error, "read answer from " + authority());
    co_return reply;
  }
  reply.status = parser.get().result_int();
  copy_headers(parser.get(), reply);
  // A refusal (404, 401, ...) has a small problem body: keep it in the reply instead.
  const bool streaming = reply.success();

  std::array<char, kStreamChunk> chunk;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    if (idle_timeout.count() > 0) {
      stream_.expires_after(idle_timeout);
    } else {
      stream_.expires_never();
    }
    // read_some, not read: read fills the whole chunk (or waits for the end of the message)
    // before it returns, so a watcher would see events only 16 KiB at a time or at the end.
    auto [error, n] = co_await bhttp::async_read_some(stream_, buffer_, parser, use_tuple);
    if (error == bhttp::error::need_buffer) error = {};
    const std::size_t got = chunk.size() - parser.get().body().size;
    if (got > 0) {
      const std::string_view data(chunk.data(), got);
      if (!streaming) {
        if (reply.body.size() < kMaxResponseBytes) reply.body.append(data);
      } else if (!on_body(data)) {
        break;
      }
    }
    if (error) {
      // Keep the status: the stream was answered, then broke off.
      reply.error = error;
      reply.error_text = "event stream from " + authority() + ": " +
                         (error == beast::error::timeout ? std::string("timed out") : error.message());
      break;
    }
  }
  close();
  co_return reply;
}

}  // namespace jobd::client::detail
