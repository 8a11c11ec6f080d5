// job_footprint: heap bytes the job table holds per retained finished job, without HTTP.
//
// Creates `jobs` echo jobs with params of `params_bytes` bytes of JSON text (the shape
// bench/wrk/submit.lua sends: {"data":"xxx..."}), starts and finishes each the way the loop
// executor does (the result is the params, as echo returns them), and reads glibc's count of
// bytes in use (mallinfo2().uordblks, which includes each chunk's 8-byte header) before and
// after. The phases print separately, so each part of a job's cost shows: the queued job, then
// what the start and the finish add. RSS of the real server adds the allocator's free lists and
// the page granularity on top (bench/RESULTS.md, "RSS per retained job").
//
// Build: part of the CMake build (target job_footprint).
// Run:   build/bench/job_footprint [jobs=100000] [params_bytes=100]
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "jobs/job_table.hpp"
#include "jobs/record.hpp"
#include "kinds/builtin.hpp"

namespace {

using namespace jobd;

std::size_t heap_in_use() { return mallinfo2().uordblks; }

// {"data":"xxx...x"}: exactly `bytes` bytes of JSON text (at least 11).
nlohmann::json params_of(std::size_t bytes) {
  const std::size_t frame = std::string(R"({"data":""})").size();
  return {{"data", std::string(bytes > frame ? bytes - frame : 0, 'x')}};
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t jobs = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  const std::size_t params_bytes = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100;
  const kinds::Kind echo = kinds::make_echo_kind();
  const nlohmann::json params = params_of(params_bytes);

  jobs::JobTable table({.max_finished = jobs, .retention = std::chrono::hours(1), .event_history = 1024});
  std::vector<jobs::JobSeq> seqs;
  seqs.reserve(jobs);
  const auto now = jobs::Clock::now();
  ::malloc_trim(0);
  const std::size_t empty = heap_in_use();
  for (std::size_t i = 0; i < jobs; ++i) {
    seqs.push_back(table
                       .create(echo, proto::Executor::loop, jobs::to_json_text(params),
                               std::chrono::seconds(300), std::nullopt, now)
                       .seq);
  }
  const std::size_t queued = heap_in_use();
  for (const auto seq : seqs) table.start(seq, nullptr, now);
  const std::size_t running = heap_in_use();
  for (const auto seq : seqs) table.finish(seq, proto::Outcome::success(params), now);
  const std::size_t finished = heap_in_use();

  const auto per_job = [&](std::size_t from, std::size_t to) {
    return (static_cast<double>(to) - static_cast<double>(from)) / static_cast<double>(jobs);
  };
  std::printf(
      "job_footprint jobs=%zu params_bytes=%zu params_text=%zu queued_per_job=%.0f start_adds=%.0f "
      "finish_adds=%.0f finished_per_job=%.0f sizeof_job=%zu\n",
      jobs, params_bytes, params.dump().size(), per_job(empty, queued), per_job(queued, running),
      per_job(running, finished), per_job(empty, finished), sizeof(jobs::Job));
  return 0;
}
