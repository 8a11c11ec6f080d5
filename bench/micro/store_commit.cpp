// store_commit: what the job store costs the loop per job, without HTTP or executors.
//
// Each of `clients` simulated clients runs jobs one after another the way the job table will:
// insert the job (the submit), wait until it is durable (the 202), write start and finish (two
// updates, an echo job), wait until durable (the final state shown), next job. That is 3
// changes per job through MemoryStore, SqliteStore with durability process (synchronous=NORMAL)
// and machine (FULL: an fsync per commit). Then the load of `load_rows` stored rows, the
// start-up cost of a restart.
//
// Build: part of the CMake build (target store_commit).
// Run:   build/bench/store_commit [jobs=100000] [clients=64] [load_rows=200000] [dir=/tmp]
// Prints one line per store, e.g. (2-vCPU VM shared with other builds, load average ~10)
//   store=process jobs=100000 clients=64 jobs_per_s=78999 batches=3790 batch_mean=79.2
//     batch_p50=81 batch_p99=124 batch_max=124 commit_mean_us=197 commit_p99_us=4166
//     cpu_us_per_job=8.2 loop_cpu_us_per_job=2.0
// and the load time (wall and CPU: the machine may be shared), also scaled to one million rows.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "store/job_store.hpp"

namespace {

using namespace jobd;
using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;

// CPU time of the whole process (loop and writer threads): steadier than wall time on a busy machine.
double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// CPU time of the calling thread alone: the loop's share.
double thread_cpu_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

long arg_or(int argc, char** argv, int i, long fallback) {
  return argc > i ? std::strtol(argv[i], nullptr, 10) : fallback;
}

// A row the size of a small real job: an echo job's params and result, an executor detail.
store::JobRow job_row(std::uint64_t seq) {
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
  row.created_at_ms = 1'800'000'000'000 + static_cast<std::int64_t>(seq);
  return row;
}

store::Change start_change(store::JobRow row) {
  row.state = proto::JobState::running;
  row.started_at_ms = row.created_at_ms + 1;
  return {store::ChangeOp::update, std::move(row)};
}

store::Change finish_change(store::JobRow row) {
  row.state = proto::JobState::succeeded;
  row.started_at_ms = row.created_at_ms + 1;
  row.finished_at_ms = row.created_at_ms + 2;
  row.result_json = R"({"message":"hello from a benchmark client"})";
  row.details_json = R"({"thread":"loop"})";
  return {store::ChangeOp::update, std::move(row)};
}

std::size_t percentile(std::vector<std::size_t> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1,
                         static_cast<std::size_t>(p * static_cast<double>(values.size())))];
}

struct Figures {
  std::vector<std::size_t> batch_sizes;
  std::vector<std::size_t> commit_us;
};

// The clients: each one job at a time, its next job posted (not called) so that MemoryStore's
// immediate callbacks do not recurse.
class Clients {
 public:
  Clients(asio::io_context& loop, store::JobStore& store, long jobs)
      : loop_(loop), store_(store), jobs_(jobs), busy_(loop.get_executor()) {}

  void start(long clients) {
    for (long i = 0; i < clients && next_seq_ <= static_cast<std::uint64_t>(jobs_); ++i) submit_next();
  }
  long finished() const { return finished_; }

 private:
  void submit_next() {
    if (next_seq_ > static_cast<std::uint64_t>(jobs_)) return;
    const std::uint64_t seq = next_seq_++;
    store_.when_durable(store_.write({store::ChangeOp::insert, job_row(seq)}), [this, seq] {
      store_.write(start_change(job_row(seq)));
      store_.when_durable(store_.write(finish_change(job_row(seq))), [this] {
        if (++finished_ == jobs_) busy_.reset();  // the loop's run() returns
        asio::post(loop_, [this] { submit_next(); });
      });
    });
  }

  asio::io_context& loop_;
  store::JobStore& store_;
  long jobs_;
  std::uint64_t next_seq_ = 1;
  long finished_ = 0;
  // Completions come from the writer thread: without this the loop would stop while it commits.
  asio::executor_work_guard<asio::io_context::executor_type> busy_;
};

bool run_commits(const char* name, const std::string& uri, store::Durability durability, long jobs,
                 long clients) {
  asio::io_context loop;
  auto opened = store::open_store(uri, {.durability = durability}, loop.get_executor());
  if (!opened.store) {
    std::fprintf(stderr, "%s\n", opened.error.c_str());
    return false;
  }
  Figures figures;
  std::string failure;
  opened.store->set_observer({
      .committed =
          [&](const store::CommitReport& report) {
            figures.batch_sizes.push_back(report.changes);
            figures.commit_us.push_back(static_cast<std::size_t>(report.latency.count()));
          },
      .failed = [&](std::string_view reason) { failure = reason; },
  });
  Clients driver(loop, *opened.store, jobs);
  const auto begin = Clock::now();
  const double cpu_begin = cpu_seconds();
  const double loop_cpu_begin = thread_cpu_seconds();
  driver.start(clients);
  loop.run();
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  const double cpu = cpu_seconds() - cpu_begin;
  const double loop_cpu = thread_cpu_seconds() - loop_cpu_begin;
  opened.store->close();
  if (!failure.empty() || driver.finished() != jobs) {
    std::fprintf(stderr, "%s: %ld of %ld jobs finished; %s\n", name, driver.finished(), jobs,
                 failure.c_str());
    return false;
  }
  const auto& sizes = figures.batch_sizes;
  double total = 0, commit_total = 0;
  for (auto size : sizes) total += static_cast<double>(size);
  for (auto us : figures.commit_us) commit_total += static_cast<double>(us);
  const double batches = static_cast<double>(std::max<std::size_t>(1, sizes.size()));
  std::printf(
      "store=%s jobs=%ld clients=%ld jobs_per_s=%.0f batches=%zu batch_mean=%.1f batch_p50=%zu batch_p99=%zu "
      "batch_max=%zu commit_mean_us=%.0f commit_p99_us=%zu cpu_us_per_job=%.1f loop_cpu_us_per_job=%.1f\n",
      name, jobs, clients, static_cast<double>(jobs) / seconds, sizes.size(), total / batches,
      percentile(sizes, 0.5), percentile(sizes, 0.99), percentile(sizes, 1.0), commit_total / batches,
      percentile(figures.commit_us, 0.99), cpu * 1e6 / static_cast<double>(jobs),
      loop_cpu * 1e6 / static_cast<double>(jobs));
  return true;
}

// Writes `rows` finished jobs (in batches of one insert each, as fast as the writer takes them),
// then times a fresh open and load of the file.
bool run_load(const std::string& path, long rows) {
  {
    asio::io_context loop;
    auto busy = asio::make_work_guard(loop);
    auto opened = store::open_store("sqlite:" + path, {}, loop.get_executor());
    if (!opened.store) {
      std::fprintf(stderr, "%s\n", opened.error.c_str());
      return false;
    }
    const auto begin = Clock::now();
    store::Ticket last = 0;
    for (long seq = 1; seq <= rows; ++seq) {
      auto change = finish_change(job_row(static_cast<std::uint64_t>(seq)));
      change.op = store::ChangeOp::insert;
      last = opened.store->write(change);
      if (seq % 10000 == 0) loop.poll();  // let completions run; keeps memory bounded
    }
    bool done = false;
    opened.store->when_durable(last, [&] { done = true; });
    while (!done) loop.run_one();
    opened.store->close();
    std::printf("store=process wrote=%ld rows in %.2f s (one insert per job)\n", rows,
                std::chrono::duration<double>(Clock::now() - begin).count());
  }
  asio::io_context loop;
  const auto begin = Clock::now();
  const double cpu_begin = cpu_seconds();
  auto opened = store::open_store("sqlite:" + path, {}, loop.get_executor());
  if (!opened.store) {
    std::fprintf(stderr, "%s\n", opened.error.c_str());
    return false;
  }
  std::size_t bytes = 0;
  const auto loaded =
      opened.store->load([&](store::JobRow& row) { bytes += row.id.size() + row.params_json.size(); });
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  const double cpu = cpu_seconds() - cpu_begin;
  opened.store->close();
  if (!loaded.error.empty() || loaded.rows != static_cast<std::uint64_t>(rows)) {
    std::fprintf(stderr, "load: %llu rows, %s\n", static_cast<unsigned long long>(loaded.rows),
                 loaded.error.c_str());
    return false;
  }
  // The file was just written: its pages are in the OS cache (a cold start also reads the disk).
  std::printf(
      "load rows=%ld seconds=%.3f cpu_seconds=%.3f per_million_rows_s=%.2f file_mib=%.1f (%zu bytes "
      "touched)\n",
      rows, seconds, cpu, seconds * 1e6 / static_cast<double>(rows),
      static_cast<double>(std::filesystem::file_size(path)) / (1024.0 * 1024.0), bytes);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const long jobs = arg_or(argc, argv, 1, 100000);
  const long clients = arg_or(argc, argv, 2, 64);
  const long load_rows = arg_or(argc, argv, 3, 200000);
  const std::string base = argc > 4 ? argv[4] : "/tmp";
  std::string dir = base + "/store_commit.XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  bool ok =
      run_commits("memory", "memory:", store::Durability::process, jobs, clients) &&
      run_commits("process", "sqlite:" + dir + "/process.db", store::Durability::process, jobs, clients) &&
      // fsync per commit: fewer jobs, so that the run stays short on a slow disk
      run_commits("machine", "sqlite:" + dir + "/machine.db", store::Durability::machine,
                  std::max(1L, jobs / 5), clients) &&
      (load_rows <= 0 || run_load(dir + "/load.db", load_rows));
  std::filesystem::remove_all(dir);
  return ok ? 0 : 1;
}
