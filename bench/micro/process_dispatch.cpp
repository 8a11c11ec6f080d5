// process_dispatch: what the `process` executor costs per job, without HTTP: the loop encodes a
// RUN frame, a worker decodes it, runs the kind and answers with a RESULT frame, the loop
// decodes that and reports the job. Compare the per-job round trip with socketpair_pingpong
// (the raw cost of a message there and back between two processes) plus the kind's own time,
// which this program measures in-process first.
//
// Build: part of the CMake build (target process_dispatch).
// Run:   build/bench/process_dispatch [jobs=100000] [workers=1] [in_flight=1] [n=1000]
// Prints e.g.
//   process_dispatch workers=1 in_flight=1 n=1000 jobs=100000 jobs_per_s=52000 rtt_median_us=18.0
//     rtt_p99_us=40.1 kind_us=1.2
// With in_flight=1 every job waits for the previous one: the figure is the round trip. With
// in_flight > workers, workers never wait for the loop: the figure is throughput.
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "exec/process/fork_server.hpp"
#include "exec/process/process_executor.hpp"
#include "kinds/kind.hpp"

namespace {

using namespace jobd;
using Clock = std::chrono::steady_clock;

long arg_or(int argc, char** argv, int i, long fallback) {
  return argc > i ? std::strtol(argv[i], nullptr, 10) : fallback;
}

class CountingSink final : public exec::JobSink {
 public:
  CountingSink(boost::asio::io_context& loop, long jobs) : loop_(loop), jobs_(jobs) {
    rtt_us_.reserve(static_cast<std::size_t>(jobs));
  }
  void attach(exec::Executor& executor, const kinds::Kind& kind, nlohmann::json params) {
    executor_ = &executor;
    kind_ = &kind;
    params_ = std::move(params);
  }
  void submit_one() {
    const auto seq = static_cast<exec::JobSeq>(++submitted_);
    started_.push_back(Clock::now());
    executor_->submit({seq, "job-" + std::to_string(seq), kind_, params_, Clock::time_point::max(),
                       std::make_shared<exec::JobControl>()});
  }
  void on_started(exec::JobSeq, nlohmann::json) override {}
  void on_progress(exec::JobSeq, double, std::string) override {}
  void on_output(exec::JobSeq, exec::OutputStream, std::string_view) override {}
  void on_finished(exec::JobSeq seq, exec::Outcome outcome) override {
    if (outcome.state != proto::JobState::succeeded) {
      std::fprintf(stderr, "job failed: %s\n", outcome.error_message.c_str());
      std::exit(1);
    }
    rtt_us_.push_back(std::chrono::duration<double, std::micro>(Clock::now() - started_[seq - 1]).count());
    if (++finished_ == jobs_) {
      loop_.stop();
    } else if (submitted_ < jobs_) {
      submit_one();
    }
  }
  std::vector<double>& rtt_us() { return rtt_us_; }

 private:
  boost::asio::io_context& loop_;
  long jobs_;
  long submitted_ = 0;
  long finished_ = 0;
  exec::Executor* executor_ = nullptr;
  const kinds::Kind* kind_ = nullptr;
  nlohmann::json params_;
  std::vector<Clock::time_point> started_;
  std::vector<double> rtt_us_;
};

}  // namespace

int main(int argc, char** argv) {
  const long jobs = std::max(1L, arg_or(argc, argv, 1, 100'000));
  const auto workers = static_cast<std::size_t>(std::max(1L, arg_or(argc, argv, 2, 1)));
  const long in_flight = std::max(1L, arg_or(argc, argv, 3, 1));
  const long n = arg_or(argc, argv, 4, 1000);

  kinds::KindRegistry kinds;
  kinds::register_builtin_kinds(kinds);
  // Before any thread, as in jobd's main().
  auto fork_server = exec::ForkServer::start({}, kinds);
  const kinds::Kind& primes = *kinds.find("primes");
  const nlohmann::json params = {{"n", n}};

  // The kind's own time, in this process, for the comparison.
  kinds::CpuContext ctx{{}, {}};
  constexpr int kKindRuns = 20'000;
  const auto kind_start = Clock::now();
  for (int i = 0; i < kKindRuns; ++i) primes.run_on_cpu(params, ctx);
  const double kind_us =
      std::chrono::duration<double, std::micro>(Clock::now() - kind_start).count() / kKindRuns;

  boost::asio::io_context loop(1);
  CountingSink sink(loop, jobs);
  exec::ProcessExecutor executor(loop.get_executor(), sink, *fork_server, {workers, 1 << 20, 0});
  while (!executor.ready()) loop.run_one();
  sink.attach(executor, primes, params);

  const auto start = Clock::now();
  for (long i = 0; i < std::min(in_flight, jobs); ++i) sink.submit_one();
  loop.run();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  auto& rtt = sink.rtt_us();
  std::sort(rtt.begin(), rtt.end());
  const auto at = [&](double q) {
    return rtt[static_cast<std::size_t>(q * static_cast<double>(rtt.size() - 1))];
  };
  std::printf(
      "process_dispatch workers=%zu in_flight=%ld n=%ld jobs=%ld jobs_per_s=%.0f rtt_median_us=%.1f "
      "rtt_p99_us=%.1f kind_us=%.2f\n",
      workers, in_flight, n, jobs, static_cast<double>(jobs) / seconds, at(0.5), at(0.99), kind_us);
  executor.shutdown();
  return 0;
}
