// table_churn: the job table's CPU per echo job, without HTTP, at three table sizes: why a run
// that reaches --max-jobs costs more per job than one that never does (bench/RESULTS.md).
//
// Each job is created, started and finished the way the loop executor does it (params
// {"hello":"world"}, the result the params), one at a time, with --max-jobs `limit`. The table
// is first filled to `prefill` finished jobs (not timed), then `jobs` more are timed with the
// thread's CPU clock: with limit <= prefill every timed job evicts the oldest one.
//
// Run: build/bench/table_churn [jobs=200000]
//   prints one line per case: limit, prefill, ns of CPU per job.
#include <time.h>

#include <cstdio>
#include <cstdlib>

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

void run_case(const char* name, std::size_t limit, std::size_t prefill, std::size_t jobs) {
  const kinds::Kind echo = kinds::make_echo_kind();
  const nlohmann::json params = {{"hello", "world"}};
  jobs::JobTable table({.max_finished = limit, .retention = std::chrono::hours(1), .event_history = 1024});
  const auto now = jobs::Clock::now();
  for (std::size_t i = 0; i < prefill; ++i) one_job(table, echo, params, now);
  const double start = thread_cpu_ns();
  for (std::size_t i = 0; i < jobs; ++i) one_job(table, echo, params, now);
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
  return 0;
}
