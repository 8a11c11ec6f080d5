// The API on a real Scheduler and JobTable, with a FakeExecutor as its `thread` executor, on an
// io_context the test drives: every response of the HTTP API, without a socket or a thread.
//
// Kinds: `work` (thread only; params: n, an integer from 0 to 10, required) and `looped`
// (loop only, and no loop executor is registered).
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "api/api.hpp"
#include "fake_executor.hpp"
#include "jobs/job_table.hpp"
#include "jobs/scheduler.hpp"
#include "kinds/kind.hpp"

namespace jobd::testing {

inline constexpr unsigned kRetryAfter = 7;
inline constexpr auto kMaxTimeout = std::chrono::seconds(60);
inline constexpr const char* kToken = "unit-test-token-0123456789";

inline const kinds::KindRegistry& api_test_kinds() {
  static const kinds::KindRegistry registry = [] {
    kinds::KindRegistry kinds;
    kinds::Kind work;
    work.name = "work";
    work.params.params = {
        {.name = "n", .type = proto::ParamType::integer, .required = true, .minimum = 0, .maximum = 10}};
    work.executors = {proto::Executor::thread};
    work.run_on_cpu = [](const nlohmann::json&, kinds::CpuContext&) { return proto::Outcome::success({}); };
    kinds.add(std::move(work));
    kinds::Kind looped;
    looped.name = "looped";
    looped.params.free_form = true;
    looped.executors = {proto::Executor::loop};
    looped.run_on_loop = [](nlohmann::json, kinds::LoopContext) -> boost::asio::awaitable<proto::Outcome> {
      co_return proto::Outcome::success({});
    };
    kinds.add(std::move(looped));
    return kinds;
  }();
  return registry;
}

struct Call {
  http::Method method = http::Method::get;
  std::string target;
  std::string body;
  std::string content_type = "application/json";
  std::string authorization;
  std::string last_event_id;
};

class ApiHarness {
 public:
  explicit ApiHarness(api::ApiOptions options = {}, std::size_t capacity = 8)
      : scheduler(loop.get_executor(), table, api_test_kinds(),
                  {std::chrono::seconds(5), kMaxTimeout, kRetryAfter}),
        api(loop.get_executor(), scheduler, api_test_kinds(), std::move(options)) {
    auto fake =
        std::make_unique<FakeExecutor>(loop.get_executor(), scheduler, proto::Executor::thread, capacity);
    executor = fake.get();
    scheduler.add_executor(std::move(fake));
  }

  // Answers one request the way the session does: at once, or by running the loop until the
  // awaited answer is there.
  http::Response call(const Call& call) {
    http::Request request;
    request.method = call.method;
    request.target = call.target;
    request.body = call.body;
    request.content_type = call.content_type;
    request.authorization = call.authorization;
    request.last_event_id = call.last_event_id;
    http::Answer answer = api.handle(request);
    route = answer.route;
    awaited = std::holds_alternative<boost::asio::awaitable<http::Response>>(answer.response);
    if (!awaited) return std::get<http::Response>(std::move(answer.response));
    std::optional<http::Response> result;
    boost::asio::co_spawn(loop, std::get<boost::asio::awaitable<http::Response>>(std::move(answer.response)),
                          [&result](const std::exception_ptr& error, http::Response response) {
                            if (error) std::rethrow_exception(error);
                            result = std::move(response);
                          });
    loop.restart();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!result && std::chrono::steady_clock::now() < deadline)
      loop.run_one_for(std::chrono::milliseconds(10));
    if (!result) throw std::runtime_error("the awaited answer never came");
    return std::move(*result);
  }

  http::Response get(std::string target) { return call({.target = std::move(target)}); }
  http::Response submit(const nlohmann::json& body, const std::string& query = "") {
    return call({.method = http::Method::post, .target = "/v1/jobs" + query, .body = body.dump()});
  }
  // Submits a `work` job and returns its id.
  std::string submit_work(int n = 1) {
    const auto response = submit({{"kind", "work"}, {"params", {{"n", n}}}});
    EXPECT_EQ(response.status, 202u) << response.body;
    return nlohmann::json::parse(response.body).at("id").get<std::string>();
  }
  exec::JobSeq seq_of(const std::string& id) const { return table.get(id)->seq; }

  boost::asio::io_context loop{1};
  jobs::JobTable table{{.max_finished = 100, .retention = std::chrono::hours(1), .event_history = 64}};
  jobs::Scheduler scheduler;
  api::Api api;
  FakeExecutor* executor = nullptr;  // owned by the scheduler
  std::string_view route;            // of the last call
  bool awaited = false;              // whether the last call was answered by a coroutine
};

inline nlohmann::json body_of(const http::Response& response) {
  return nlohmann::json::parse(response.body_text());
}

inline std::string header_of(const http::Response& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "(none)";
}

// The problem type of a problem response, or "(not a problem)".
inline std::string problem_type(const http::Response& response) {
  if (response.content_type != "application/problem+json") return "(not a problem)";
  return body_of(response).at("type").get<std::string>();
}

}  // namespace jobd::testing
