// sleep {ms}: an I/O-shaped job. Runs on the loop as a timer wait; costs no thread while waiting.
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>

#include "kinds/builtin.hpp"

namespace jobd::kinds {

namespace asio = boost::asio;

inline constexpr std::int64_t kMaxSleepMs = 3'600'000;

Kind make_sleep_kind() {
  Kind kind;
  kind.name = "sleep";
  kind.description = "Waits `ms` milliseconds on the event loop without holding a thread.";
  kind.params.params = {{.name = "ms",
                         .type = proto::ParamType::integer,
                         .description = "how long to wait",
                         .required = true,
                         .minimum = 0,
                         .maximum = static_cast<double>(kMaxSleepMs)}};
  kind.executors = {proto::Executor::loop};
  kind.cancellation = "immediate (asio cancellation)";
  kind.run_on_loop = [](nlohmann::json params, LoopContext ctx) -> asio::awaitable<KindResult> {
    const auto ms = params.at("ms").get<std::int64_t>();
    asio::steady_timer timer(ctx.executor, std::chrono::milliseconds(ms));
    auto [error] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (error) co_return KindResult::failure(std::string(proto::job_error::cancelled), "sleep interrupted");
    if (ctx.progress) ctx.progress(1.0, "done");
    co_return KindResult::success({{"slept_ms", ms}});
  };
  return kind;
}

}  // namespace jobd::kinds
