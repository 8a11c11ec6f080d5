// A job kind: what it is called, what params it takes, where it may run and the code that runs
// it. Adding a kind is one file that returns a Kind and one line in builtin.cpp.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include "jobd/proto/job.hpp"
#include "jobd/proto/outcome.hpp"
#include "jobd/proto/params.hpp"

namespace jobd::kinds {

// What a kind's code returns: proto::Outcome, the one type for how a job ended
// (Outcome::success(result) or Outcome::failure(type, message)).
using proto::Outcome;

// Progress reporting; cheap to call often (implementations rate-limit and drop when nobody
// listens). May be called from any thread.
using ProgressFn = std::function<void(double fraction, std::string_view text)>;

// Context of CPU-bound code (thread pool or worker process). Long computations call
// checkpoint() between units of work, well under a millisecond apart: it says whether to stop,
// and now and then gives the CPU away.
struct CpuContext {
  std::stop_token stop;
  ProgressFn progress;
  // A thread that has run this long since it last yielded yields (sched_yield) at its next
  // checkpoint; zero: never. The event loop needs little CPU but needs it at once: woken behind a
  // running pool thread, it may wait for the scheduler's next tick (4 ms at 250 Hz) however low
  // that thread's priority; the yield hands it the CPU when it waits, and costs one system call
  // when nothing does (bench/RESULTS.md, stop 33).
  std::chrono::microseconds yield_every{0};
  std::uint64_t yields = 0;  // the yields checkpoint() made, for the executor's metric

  // True: stop now (cancelled, timed out or shutting down). May yield first (yield_every).
  bool checkpoint();
};

// Context of cooperative code on the event loop: asio cancellation stops it at its next
// co_await; `executor` is the loop's.
struct LoopContext {
  boost::asio::any_io_executor executor;
  ProgressFn progress;
};

using CpuHandler = std::function<Outcome(const nlohmann::json& params, CpuContext& ctx)>;
using LoopHandler = std::function<boost::asio::awaitable<Outcome>(nlohmann::json params, LoopContext ctx)>;
// A loop kind that never waits and takes microseconds (echo; a validation, a small transform):
// a plain function, called from one handler posted to the loop, with no coroutine to start.
using InlineHandler = std::function<Outcome(nlohmann::json params)>;

struct CommandSpec;  // a subprocess kind's program and argv rules (exec/subprocess)

struct Kind {
  std::string name;
  std::string description;
  proto::ParamsSchema params;
  // Executors this kind may run on; the first is its default.
  std::vector<proto::Executor> executors;
  // How cancellation reaches running code, shown in the catalog so users know what DELETE does.
  std::string cancellation;
  LoopHandler run_on_loop;                     // for Executor::loop
  InlineHandler run_inline;                    // for Executor::loop, instead of run_on_loop
  CpuHandler run_on_cpu;                       // for Executor::thread and Executor::process
  std::shared_ptr<const CommandSpec> command;  // for Executor::subprocess
  bool test_only = false;                      // registered only with --test-kinds

  bool allows(proto::Executor executor) const;
  proto::Executor default_executor() const { return executors.front(); }
};

class KindRegistry {
 public:
  // Throws std::invalid_argument on a duplicate name or a kind without a runnable executor.
  void add(Kind kind);
  const Kind* find(std::string_view name) const;
  const std::vector<std::unique_ptr<Kind>>& all() const { return kinds_; }
  // The catalog entry of GET /v1/kinds.
  static nlohmann::json describe(const Kind& kind);

 private:
  std::vector<std::unique_ptr<Kind>> kinds_;  // stable addresses: jobs point at their kind
};

// Registers the built-in kinds. The fault-injection kinds of --test-kinds live in a library of
// their own (kinds/testing), which only the jobd binary and tests link.
void register_builtin_kinds(KindRegistry& registry);

}  // namespace jobd::kinds
