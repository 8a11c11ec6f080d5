// events_fanout: the loop's CPU per job with N GET /v1/events streams open, without sockets.
//
// Drives the real JobTable and AllEventsHub on one io_context, and N subscriber queues
// (api/fanout_queue.hpp) fed with the batches the hub renders, as the fan-out thread feeds them,
// each write taken and completed without a socket. Two figures: the loop's CPU per job (the
// hub: render once, batch, post; it no longer depends on N) and the fan-out's (filter, queue,
// gather; proportional to N), both on this thread. Jobs are echo jobs with 100 bytes of params taken through
// create, start and finish (three state events each, the result rendered as jobd renders it), `burst` of them
// between two turns of the loop, as a busy server handles many requests per turn. Prints the
// loop's CPU per job with no stream and with N, and their ratio (issue 17: <= 2x at 500).
// A real server adds the writes, on the fan-out thread (bench/events_fanout, with sockets).
//
// Build: part of the CMake build (target events_fanout).
// Run:   build/bench/events_fanout [subscribers=500] [jobs=20000] [burst=50] [filtered=0]
//        `filtered` of the streams ask for ?state=succeeded (the others take every event).
#include <time.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "api/event_stream.hpp"
#include "api/fanout_queue.hpp"
#include "jobs/record.hpp"
#include "kinds/builtin.hpp"

namespace {

using namespace jobd;
namespace asio = boost::asio;

double thread_cpu_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

const kinds::Kind& echo_kind() {
  static const kinds::Kind echo = kinds::make_echo_kind();
  return echo;
}

long arg_or(int argc, char** argv, int i, long fallback) {
  return argc > i ? std::strtol(argv[i], nullptr, 10) : fallback;
}

struct Run {
  double cpu_us_per_job = 0;         // the loop's
  double fanout_cpu_us_per_job = 0;  // the subscriber queues'
  std::uint64_t bytes = 0;
};

// `jobs` echo jobs through create, start and finish, `burst` of them between two turns.
void run_jobs(asio::io_context& loop, jobs::JobTable& table, long jobs, long burst) {
  const kinds::Kind& echo = echo_kind();
  const nlohmann::json params = {{"data", std::string(89, 'x')}};  // 100 bytes of JSON text
  for (long done = 0; done < jobs;) {
    for (long i = 0; i < burst && done < jobs; ++i, ++done) {
      const auto now = jobs::Clock::now();
      const auto& job = table.create(echo, proto::Executor::loop, jobs::to_json_text(params),
                                     std::chrono::minutes(5), std::nullopt, now);
      table.start(job.seq, nullptr, now);
      table.finish(job.seq, proto::Outcome::success(params), now);
    }
    loop.poll();
  }
}

Run run(long subscribers, long filtered, long jobs, long burst) {
  Run result;
  {
    // The loop: the real hub, posting its batches to a fan-out with no stream.
    asio::io_context loop(1);
    jobs::JobTable table({.max_finished = 10000, .retention = std::chrono::hours(1), .event_history = 1024});
    api::EventFanout fanout(loop.get_executor());
    api::AllEventsHub hub(loop.get_executor(), table, fanout, 1024);
    // Subscribed and opened (as if their heads were written): the fan-out keeps no batch for them.
    std::vector<api::FramePosition> positions;
    for (long i = 0; i < subscribers; ++i) {
      positions.push_back(hub.subscribe());
      hub.opened(positions.back());
    }
    const double start = thread_cpu_seconds();
    run_jobs(loop, table, jobs, burst);
    hub.flush();
    result.cpu_us_per_job = (thread_cpu_seconds() - start) * 1e6 / static_cast<double>(jobs);
    for (const auto& position : positions) hub.unsubscribe(position, true);
  }
  if (subscribers == 0) return result;
  // The fan-out's work for the same events: batches rendered as the hub renders them, then every
  // queue takes every batch and writes it out (no socket).
  asio::io_context loop(1);
  jobs::JobTable table({.max_finished = 10000, .retention = std::chrono::hours(1), .event_history = 1024});
  std::vector<std::shared_ptr<api::FrameBatch>> batches;
  table.watch_all(
      [&](const jobs::Job& job, const jobs::JobEvent& event) {
        if (batches.empty() || batches.back()->frames.size() >= 512)
          batches.push_back(std::make_shared<api::FrameBatch>());
        batches.back()->seq = batches.size() - 1;
        batches.back()->add(api::render_sse(job, event, false), job.kind->name, event.state);
      },
      jobs::WatchAll::recorder);
  run_jobs(loop, table, jobs, burst);
  std::vector<api::SubscriberQueue> queues;
  for (long i = 0; i < subscribers; ++i) {
    api::EventFilter filter;
    if (i < filtered) filter.state = proto::JobState::succeeded;
    queues.emplace_back(filter, 1024, api::FramePosition{});
  }
  const double start = thread_cpu_seconds();
  for (const auto& batch : batches) {
    for (auto& queue : queues) {
      queue.add(batch);
      while (queue.ready()) {
        for (const auto& buffer : queue.take()) result.bytes += buffer.size();
        queue.written();
      }
    }
  }
  result.fanout_cpu_us_per_job = (thread_cpu_seconds() - start) * 1e6 / static_cast<double>(jobs);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  const long subscribers = arg_or(argc, argv, 1, 500);
  const long jobs = arg_or(argc, argv, 2, 20000);
  const long burst = std::max(1L, arg_or(argc, argv, 3, 50));
  const long filtered = arg_or(argc, argv, 4, 0);
  run(0, 0, jobs / 10, burst);  // warm the allocator and the caches
  const Run none = run(0, 0, jobs, burst);
  const Run many = run(subscribers, filtered, jobs, burst);
  std::printf(
      "events_fanout jobs=%ld burst=%ld cpu_us_per_job_0=%.2f subscribers=%ld filtered=%ld "
      "cpu_us_per_job_n=%.2f ratio=%.2f fanout_cpu_us_per_job_n=%.2f bytes_per_job_n=%.0f\n",
      jobs, burst, none.cpu_us_per_job, subscribers, filtered, many.cpu_us_per_job,
      many.cpu_us_per_job / none.cpu_us_per_job, many.fanout_cpu_us_per_job,
      static_cast<double>(many.bytes) / static_cast<double>(jobs));
  return 0;
}
