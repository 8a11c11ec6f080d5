// store_fill: writes N finished echo jobs into a jobd store file through SqliteStore, the way
// jobd writes them (the same rows, one group commit per batch), finished a moment ago so that
// the default retention keeps them. bench/store then times jobd's start-up on that file: the
// recovery of a million retained jobs.
//
// Build: part of the CMake build (target store_fill).
// Run:   build/bench/store_fill PATH [jobs=1000000] [batch=10000]
#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "store/job_store.hpp"

namespace {

using namespace jobd;

// A finished echo job the size of the benchmark's: params and the result they echo.
store::JobRow finished_row(std::uint64_t seq, std::int64_t now_ms) {
  store::JobRow row;
  row.seq = seq;
  char id[33];
  std::snprintf(id, sizeof id, "%016llx%016llx", 0x9e3779b97f4a7c15ULL * seq,
                static_cast<unsigned long long>(seq));
  row.id = id;
  row.kind = "echo";
  row.executor = proto::Executor::loop;
  row.params_json = R"({"message":"hello from a benchmark client","n":)" + std::to_string(seq) + "}";
  row.timeout_ms = 30000;
  row.created_at_ms = now_ms - 2;
  row.state = proto::JobState::succeeded;
  row.started_at_ms = now_ms - 1;
  row.finished_at_ms = now_ms;
  row.result_json = R"({"echo":)" + row.params_json + "}";
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: store_fill PATH [jobs=1000000] [batch=10000]\n");
    return 2;
  }
  const std::string path = argv[1];
  const long jobs = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 1'000'000;
  const long batch = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 10'000;
  boost::asio::io_context loop;
  auto busy = boost::asio::make_work_guard(loop);  // completions come from the writer thread
  auto opened = store::open_store("sqlite:" + path, {}, loop.get_executor());
  if (!opened.store) {
    std::fprintf(stderr, "store_fill: %s\n", opened.error.c_str());
    return 1;
  }
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const auto started = std::chrono::steady_clock::now();
  for (long done = 0; done < jobs;) {
    const long end = std::min(jobs, done + batch);
    store::Ticket last = 0;
    for (long seq = done + 1; seq <= end; ++seq)
      last = opened.store->write(
          {store::ChangeOp::insert, finished_row(static_cast<std::uint64_t>(seq), now_ms)});
    bool committed = false;
    opened.store->when_durable(last, [&committed] { committed = true; });
    while (!committed) loop.run_one();
    done = end;
  }
  const auto closed = opened.store->close();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("store_fill path=%s jobs=%ld seconds=%.1f ok=%d\n", path.c_str(), jobs, seconds,
              closed.ok ? 1 : 0);
  return closed.ok ? 0 : 1;
}
