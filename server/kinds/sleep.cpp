// sleep {ms}: an I/O-shaped job. Runs on the loop as a timer wait; costs no thread while waiting.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "kinds/builtin.hpp"

namespace jobd::kinds {

namespace asio = boost::asio;

inline constexpr std::int64_t kMaxSleepMs = 3'600'000;
inline constexpr std::int64_t kMinProgressStepMs = 100;

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
  kind.run_on_loop = [](nlohmann::json params, LoopContext ctx) -> asio::awaitable<Outcome> {
    const auto total = std::chrono::milliseconds(params.at("ms").get<std::int64_t>());
    // Waits in up to ten steps so that a watcher sees progress; steps are at least 100 ms, so a
    // short sleep costs one timer.
    const auto step = std::max(total / 10, std::chrono::milliseconds(kMinProgressStepMs));
    const auto start = std::chrono::steady_clock::now();
    asio::steady_timer timer(ctx.executor);
    for (auto done = std::chrono::milliseconds(0); done < total;) {
      done = std::min(done + step, total);
      timer.expires_at(start + done);
      auto [error] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (error) co_return Outcome::failure(proto::job_error::cancelled, "sleep interrupted");
      if (ctx.progress) {
        ctx.progress(static_cast<double>(done.count()) / static_cast<double>(total.count()),
                     std::to_string(done.count()) + " ms");
      }
    }
    co_return Outcome::success({{"slept_ms", total.count()}});
  };
  return kind;
}

}  // namespace jobd::kinds
