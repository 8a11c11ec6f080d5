// libFuzzer target: the whole HTTP request path. The input is the bytes a client sends on one
// connection (any number of pipelined requests, or garbage); they reach jobd's real session
// coroutine through a socketpair (HttpServer::serve), so Beast's parser, the limits and the
// refusal rules, the API's route table and every handler, the job table and the loop and
// thread executors all run as in production, with small limits and short timeouts so that no
// input can make a run slow.
//
// A finding is: a crash or sanitizer report; a log line at error level or above (a session
// ended by an exception, say); an answer with a 5xx status other than the server's deliberate
// 503 and 505; an answer that is not HTTP; a job left unfinished after shutdown (a lost job);
// or a run whose loop does not wind down (a hang).
//
// Odd-sized inputs run with bearer tokens configured (kToken), even-sized ones without, so both
// the open and the authenticated API are explored.
#include <sys/socket.h>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "api/api.hpp"
#include "exec/loop/loop_executor.hpp"
#include "exec/thread/thread_executor.hpp"
#include "http/handler.hpp"
#include "http/server.hpp"
#include "jobs/job_table.hpp"
#include "jobs/scheduler.hpp"
#include "kinds/kind.hpp"
#include "metrics/registry.hpp"
#include "metrics/server_metrics.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using jobd::kinds::KindRegistry;

constexpr const char* kToken = "fuzz-token-0123456789abcdef";
// How long one input may keep the loop busy before shutdown starts, and how long shutdown may
// take before the run counts as a hang.
constexpr auto kServeBudget = 60ms;  // jobs and long-polls are capped at 50 ms below
constexpr auto kShutdownBudget = 3s;

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "http_fuzz finding: %s\n", what.c_str());
  std::abort();
}

// Errors in the log are findings; everything below is dropped (fuzzing would drown in it).
class AbortOnErrorSink : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    if (message.level >= spdlog::level::err) {
      finding("error logged: " + std::string(message.payload.data(), message.payload.size()));
    }
  }
  void flush_() override {}
};

const KindRegistry& kinds() {
  static const KindRegistry registry = [] {
    KindRegistry r;
    jobd::kinds::register_builtin_kinds(r);
    return r;
  }();
  return registry;
}

asio::awaitable<void> client(asio::local::stream_protocol::socket& socket, std::string_view input,
                             std::string& received, bool& done) {
  constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
  auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(input), use_tuple);
  boost::system::error_code ignored;
  if (!write_error) socket.shutdown(asio::socket_base::shutdown_send, ignored);
  char chunk[16384];
  for (;;) {
    auto [error, n] = co_await socket.async_read_some(asio::buffer(chunk), use_tuple);
    received.append(chunk, n);
    if (error) break;
  }
  done = true;
}

void run_one(std::string_view input) {
  asio::io_context loop(1);
  jobd::jobs::JobTable table({.max_finished = 32, .retention = 1s, .event_history = 16});
  jobd::jobs::Scheduler scheduler(loop.get_executor(), table, kinds(), {20ms, 50ms, 1});
  scheduler.add_executor(std::make_unique<jobd::exec::LoopExecutor>(loop.get_executor(), scheduler, 8));
  scheduler.add_executor(std::make_unique<jobd::exec::ThreadExecutor>(
      loop.get_executor(), scheduler, jobd::exec::ThreadPoolOptions{1, 4, 0, 0, 0us}));

  jobd::api::TokenSet tokens;
  if (input.size() % 2 == 1) tokens = jobd::api::TokenSet::from_tokens({kToken});
  jobd::api::Api api(loop.get_executor(), scheduler, kinds(),
                     {50ms, 64, 100, 64 << 10, {16, 20ms, nullptr}, std::move(tokens), false});
  jobd::http::Handler& handler = api;  // the HTTP shell sees only the Handler interface
  jobd::http::HttpServer server(loop, handler, {64 << 10, 8 << 10, 50ms, 50ms, 50ms, 8, 10s});

  jobd::metrics::Registry registry;
  jobd::metrics::ServerMetrics metrics(registry);
  table.watch_all(
      [&metrics](const jobd::jobs::Job& job, const jobd::jobs::JobEvent& event) {
        metrics.observe_job(
            {job.kind->name, job.executor, event.state, job.created_at, job.visible_started_at(), event.at});
      },
      jobd::jobs::WatchAll::recorder);
  server.on_request([&metrics](const jobd::http::RequestRecord& record) {
    if (record.status >= 500 && record.status != 503 && record.status != 505) {
      finding("answered " + std::to_string(record.status) + " to " + std::string(record.method) + " " +
              std::string(record.target));
    }
    metrics.observe_request(record.route, record.status, record.duration);
  });
  api.serve_metrics([&registry] { return registry.expose(); });

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) finding("socketpair failed");
  server.serve(fds[0]);
  asio::local::stream_protocol::socket peer(loop);
  peer.assign(asio::local::stream_protocol(), fds[1]);
  std::string received;
  bool done = false;
  asio::co_spawn(loop, client(peer, input, received, done), asio::detached);

  // Serve until the server has answered and closed, or the budget is spent (a long-poll or an
  // event stream may stay open); then shut down the way SIGTERM does and let the loop run dry.
  const auto serve_deadline = std::chrono::steady_clock::now() + kServeBudget;
  while (!done && std::chrono::steady_clock::now() < serve_deadline) loop.run_one_for(10ms);
  server.close_connections();
  scheduler.stop_all(jobd::exec::StopReason::shutdown);
  boost::system::error_code ignored;
  peer.close(ignored);
  const auto shutdown_deadline = std::chrono::steady_clock::now() + kShutdownBudget;
  loop.restart();
  while (!loop.stopped()) {
    if (std::chrono::steady_clock::now() > shutdown_deadline) finding("the loop did not wind down (hang)");
    loop.run_for(50ms);
  }
  if (server.connections() != 0) finding("a connection outlived shutdown");
  if (table.counts().active != 0) finding("a job did not reach a final state (lost job)");
  if (!received.empty() && !received.starts_with("HTTP/1."))
    finding("answer is not HTTP: " + received.substr(0, 40));
  scheduler.shutdown_executors();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto logger = std::make_shared<spdlog::logger>("fuzz", std::make_shared<AbortOnErrorSink>());
  logger->set_level(spdlog::level::err);
  spdlog::set_default_logger(logger);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  run_one(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
