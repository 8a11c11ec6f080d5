// table_churn: the job table's CPU per echo job, without HTTP, at three table sizes: why a run
// that reaches --max-jobs costs more per job than one that never does (bench/RESULTS.md).
//
// Each job is created, started and finished the way the loop executor does it (params
// {"hello":"world"}, the result the params), one at a time, with --max-jobs `limit`. The table
// is first filled to `prefill` finished jobs (not timed), then `jobs` more are timed with the
// thread's CPU clock: with limit <= prefill every timed job evicts the oldest one.
//
// The `durable` cases run the table over a durable store that keeps nothing (CountingStore): the
// rows are built and handed over, and every `batch` changes a commit completes on the spot (the
// table settles its pending inserts and finals, as on the loop): the table's own share of what a
// durable store costs the loop per job, without the writer thread or SQLite.
//
// Run: build/bench/table_churn [jobs=200000]
//   prints one line per case: limit, prefill, ns of CPU per job.
#include <time.h>

#include <cstdio>
#include <cstdlib>

#include <functional>

#include "jobs/job_table.hpp"
#include "jobs/record.hpp"
#include "kinds/builtin.hpp"

namespace {

using namespace jobd;

double thread_cpu_ns() {
  timespec at{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &at);
  return static_cast<double>(at.tv_sec) * 1e9 + static_cast<double>(at.tv_nsec);
}

void one_job(jobs::JobTable& table, const kinds::Kind& echo, const nlohmann::json& params,
             jobs::Clock::time_point now) {
  const auto seq = table
                       .create(echo, proto::Executor::loop, jobs::to_json_text(params),
                               std::chrono::seconds(300), std::nullopt, now)
                       .seq;
  table.start(seq, nullptr, now);
  table.finish(seq, proto::Outcome::success(params), now);
}

// Durable, keeps nothing; commit() completes everything written so far, as a batch would.
class CountingStore final : public store::JobStore {
 public:
  bool durable() const noexcept override { return true; }
  store::LoadResult load(const store::RowVisitor&) override { return {}; }
  store::Ticket write(store::ChangeOp, const store::RowRef&) override { return ++last_; }
  void evict(std::uint64_t) override {}
  void when_durable(store::Ticket, std::function<void()> done) override { done(); }
  void set_durable_listener(std::function<void(store::Ticket)> listener) override {
    listener_ = std::move(listener);
  }
  store::StoreHealth health() const override { return {}; }
  void set_observer(store::StoreObserver) override {}
  store::StoreHealth close() override { return {}; }
  void commit_every(store::Ticket batch) {
    if (last_ - through_ < batch) return;
    through_ = last_;
    if (listener_) listener_(through_);
  }

 private:
  std::function<void(store::Ticket)> listener_;
  store::Ticket last_ = 0;
  store::Ticket through_ = 0;
};

void run_case(const char* name, std::size_t limit, std::size_t prefill, std::size_t jobs,
              store::Ticket batch = 0) {
  const kinds::Kind echo = kinds::make_echo_kind();
  const nlohmann::json params = {{"hello", "world"}};
  CountingStore store;
  jobs::JobTable table({.max_finished = limit, .retention = std::chrono::hours(1), .event_history = 1024},
                       batch != 0 ? &store : nullptr);
  const auto now = jobs::Clock::now();
  for (std::size_t i = 0; i < prefill; ++i) {
    one_job(table, echo, params, now);
    if (batch != 0) store.commit_every(batch);
  }
  const double start = thread_cpu_ns();
  for (std::size_t i = 0; i < jobs; ++i) {
    one_job(table, echo, params, now);
    if (batch != 0) store.commit_every(batch);
  }
  const double ns = (thread_cpu_ns() - start) / static_cast<double>(jobs);
  std::printf("table_churn case=%s limit=%zu prefill=%zu jobs=%zu ns_per_job=%.0f\n", name, limit, prefill,
              jobs, ns);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t jobs = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200000;
  run_case("full_small", 1000, 1000, jobs);
  run_case("full_large", 100000, 100000, jobs);
  run_case("growing", 10000000, 100000, jobs);
  // An echo job is 2 changes (its start folds into the insert in SqliteStore, not here: 3).
  run_case("durable_full_large", 100000, 100000, jobs, 300);
  run_case("durable_full_small", 1000, 1000, jobs, 300);
  return 0;
}
