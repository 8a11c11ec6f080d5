// Fault-injection kinds, registered only with --test-kinds. They let tests prove what jobd does
// when a job misbehaves: ignores cancellation, fails, (on process) crashes or exhausts memory.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "kinds/testing/test_kinds.hpp"

namespace jobd::kinds::testing {

inline constexpr std::int64_t kMaxSpinMs = 600'000;

namespace {
// The params and executors of a kind that burns CPU for {ms}.
void burns_cpu_for_ms(Kind& kind) {
  kind.params.params = {{.name = "ms",
                         .type = proto::ParamType::integer,
                         .required = true,
                         .minimum = 0,
                         .maximum = static_cast<double>(kMaxSpinMs)}};
  kind.executors = {proto::Executor::thread, proto::Executor::process};
}
}  // namespace

Kind make_spin_kind() {
  Kind kind;
  kind.name = "spin";
  kind.description = "Burns CPU for `ms` milliseconds and ignores cancellation (test kind).";
  burns_cpu_for_ms(kind);
  kind.cancellation = "none on thread (runs to the end); kill on process";
  kind.test_only = true;
  kind.run_on_cpu = [](const nlohmann::json& params, CpuContext&) {
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(params.at("ms").get<std::int64_t>());
    std::uint64_t spins = 0;
    while (std::chrono::steady_clock::now() < until) ++spins;
    return Outcome::success({{"spins", spins}});
  };
  return kind;
}

Kind make_checkpoints_kind() {
  Kind kind;
  kind.name = "checkpoints";
  kind.description =
      "Burns CPU for `ms` milliseconds with a checkpoint every ~100 us; returns the checkpoints and "
      "the CPU yields they made (test kind).";
  burns_cpu_for_ms(kind);
  kind.cancellation = "at the next checkpoint on thread; kill on process";
  kind.test_only = true;
  kind.run_on_cpu = [](const nlohmann::json& params, CpuContext& ctx) {
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(params.at("ms").get<std::int64_t>());
    std::uint64_t checkpoints = 0;
    for (auto next = std::chrono::steady_clock::now(); next < until;
         next = std::chrono::steady_clock::now()) {
      const auto segment_end = next + std::chrono::microseconds(100);
      while (std::chrono::steady_clock::now() < segment_end) {
      }
      ++checkpoints;
      if (ctx.checkpoint()) return Outcome::failure(proto::job_error::cancelled, "stopped");
    }
    return Outcome::success({{"checkpoints", checkpoints}, {"yields", ctx.yields}});
  };
  return kind;
}

Kind make_fail_kind() {
  Kind kind;
  kind.name = "fail";
  kind.description = "Fails with `message`, marked retryable when `retryable` (test kind).";
  kind.params.params = {
      {.name = "message",
       .type = proto::ParamType::string,
       .default_value = "requested failure",
       .max_length = 4096},
      {.name = "retryable",
       .type = proto::ParamType::boolean,
       .description = "whether another attempt may pass (the job is retried if it has attempts left)",
       .default_value = false}};
  kind.executors = {proto::Executor::thread, proto::Executor::loop, proto::Executor::process};
  kind.cancellation = "immediate";
  kind.test_only = true;
  kind.run_on_cpu = [](const nlohmann::json& params, CpuContext&) {
    // A retryable failure is thrown, the way a kind's code would raise one from deep inside.
    if (params.at("retryable").get<bool>())
      throw proto::RetryableError(params.at("message").get<std::string>());
    return Outcome::failure(proto::job_error::kind_failed, params.at("message").get<std::string>());
  };
  kind.run_on_loop = [](nlohmann::json params, LoopContext) -> boost::asio::awaitable<Outcome> {
    auto message = params.at("message").get<std::string>();
    if (params.at("retryable").get<bool>()) co_return Outcome::retryable_failure(std::move(message));
    co_return Outcome::failure(proto::job_error::kind_failed, std::move(message));
  };
  return kind;
}

Kind make_block_kind() {
  Kind kind;
  kind.name = "block";
  kind.description = "Holds the event loop for `ms` milliseconds: a misbehaving loop kind (test kind).";
  kind.params.params = {
      {.name = "ms", .type = proto::ParamType::integer, .required = true, .minimum = 0, .maximum = 10'000}};
  kind.executors = {proto::Executor::loop};
  kind.cancellation = "none (it never yields)";
  kind.test_only = true;
  kind.run_on_loop = [](nlohmann::json params, LoopContext) -> boost::asio::awaitable<Outcome> {
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(params.at("ms").get<std::int64_t>());
    while (std::chrono::steady_clock::now() < until) {
    }
    co_return Outcome::success({{"blocked_ms", params.at("ms")}});
  };
  return kind;
}

Kind make_chatter_kind() {
  Kind kind;
  kind.name = "chatter";
  kind.description = "Reports `events` progress events as fast as the loop allows (test and benchmark kind).";
  kind.params.params = {{.name = "events",
                         .type = proto::ParamType::integer,
                         .required = true,
                         .minimum = 1,
                         .maximum = 1'000'000},
                        {.name = "delay_ms",
                         .type = proto::ParamType::integer,
                         .description = "wait this long first (time for subscribers to connect)",
                         .default_value = 0,
                         .minimum = 0,
                         .maximum = 60'000}};
  kind.executors = {proto::Executor::loop};
  kind.cancellation = "immediate (yields every 16 events)";
  kind.test_only = true;
  kind.run_on_loop = [](nlohmann::json params, LoopContext ctx) -> boost::asio::awaitable<Outcome> {
    const auto events = params.at("events").get<std::int64_t>();
    boost::asio::steady_timer delay(ctx.executor,
                                    std::chrono::milliseconds(params.at("delay_ms").get<std::int64_t>()));
    co_await delay.async_wait(boost::asio::use_awaitable);
    for (std::int64_t i = 1; i <= events; ++i) {
      if (ctx.progress) ctx.progress(static_cast<double>(i) / static_cast<double>(events), "tick");
      // Yield every 16 events so that subscribers' writes and other requests run in between: a
      // yield per event queues the producer behind every subscriber's write (measured 13x
      // slower with 1,000 subscribers); a larger batch holds the loop too long.
      if (i % 16 == 0) co_await boost::asio::post(ctx.executor, boost::asio::use_awaitable);
    }
    co_return Outcome::success({{"events", events}});
  };
  return kind;
}

void register_test_kinds(KindRegistry& registry) {
  registry.add(make_spin_kind());
  registry.add(make_checkpoints_kind());
  registry.add(make_fail_kind());
  registry.add(make_block_kind());
  registry.add(make_chatter_kind());
  registry.add(make_crash_kind());
  registry.add(make_exit_kind());
  registry.add(make_alloc_kind());
}

}  // namespace jobd::kinds::testing
