// kill -9 survival: a child process runs a SqliteStore under load (many jobs in flight, each
// inserted, then started and finished) and reports every acknowledgement through a pipe; the
// parent SIGKILLs it at a random point, reopens the file, and checks that every acknowledged
// change is there, that every row is exactly one of its job's states, and that the file is
// sound. Six rounds on the same file, each continuing after the rows the last one left.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "store_test_support.hpp"

using namespace jobd::store;
using namespace jobd::store::testing;

namespace {

struct Ack {
  std::uint64_t seq;
  std::uint64_t phase;  // 1: inserted (the 202), 3: finished (the final state shown)
};

constexpr int kInFlight = 32;  // jobs each child keeps going at once
constexpr std::uint64_t kJobsPerChild = 200000;

// The child: never returns. Each job: insert, wait, write start and finish, wait, next job.
[[noreturn]] void run_child(const std::string& path, std::uint64_t first_seq, int acks,
                            Durability durability) {
  Loop loop;
  auto opened = open_store("sqlite:" + path, {.durability = durability}, loop.io.get_executor());
  if (!opened.store) ::_exit(3);
  JobStore& store = *opened.store;
  std::uint64_t next = first_seq;
  auto tell = [acks](std::uint64_t seq, std::uint64_t phase) {
    const Ack ack{seq, phase};
    if (::write(acks, &ack, sizeof ack) != sizeof ack) ::_exit(4);
  };
  std::function<void()> start_job = [&] {
    if (next >= first_seq + kJobsPerChild) return;
    const std::uint64_t seq = next++;
    store.when_durable(store.write(insert(job_row(seq, 1))), [&, seq] {
      tell(seq, 1);
      store.write(update(job_row(seq, 2)));
      store.when_durable(store.write(update(job_row(seq, 3))), [&, seq] {
        tell(seq, 3);
        boost::asio::post(loop.io, start_job);
      });
    });
  };
  for (int i = 0; i < kInFlight; ++i) start_job();
  loop.io.run();
  ::_exit(0);
}

// Which of its job's states a stored row is: 1, 2, 3, or 0 for none of them (a torn row).
std::uint64_t phase_of(const JobRow& row) {
  for (int phase = 1; phase <= 3; ++phase)
    if (row == job_row(row.seq, phase)) return static_cast<std::uint64_t>(phase);
  return 0;
}

// One round: returns the acknowledgements the child made before it died.
std::map<std::uint64_t, std::uint64_t> crash_once(const std::string& path, std::uint64_t first_seq,
                                                  std::size_t kill_after, std::chrono::microseconds extra,
                                                  Durability durability) {
  int pipe_fds[2];
  EXPECT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_fds[0]);
    run_child(path, first_seq, pipe_fds[1], durability);
  }
  ::close(pipe_fds[1]);
  std::map<std::uint64_t, std::uint64_t> acked;
  Ack ack{};
  std::size_t count = 0;
  bool killed = false;
  // Read the acks until the kill point, kill, then drain what the child wrote before it died.
  while (::read(pipe_fds[0], &ack, sizeof ack) == sizeof ack) {
    acked[ack.seq] = std::max(acked[ack.seq], ack.phase);
    if (!killed && ++count == kill_after) {
      if (extra.count() > 0) std::this_thread::sleep_for(extra);
      ::kill(child, SIGKILL);
      killed = true;
    }
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child ended by itself (status " << status << ") before the kill point " << kill_after;
  return acked;
}

void expect_survival(Durability durability, int rounds) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  const auto seed = std::random_device{}();
  std::mt19937 random(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::uint64_t first_seq = 1;
  std::map<std::uint64_t, std::uint64_t> all_acked;  // seq -> highest acknowledged phase
  for (int round = 0; round < rounds; ++round) {
    // Kill points from the first few commits to a few thousand, each nudged by up to 2 ms.
    const std::size_t kill_after = std::uniform_int_distribution<std::size_t>(1, 6000)(random);
    const std::chrono::microseconds extra(std::uniform_int_distribution<int>(0, 2000)(random));
    SCOPED_TRACE("round " + std::to_string(round) + ", killed after " + std::to_string(kill_after) +
                 " acks + " + std::to_string(extra.count()) + " us");
    for (const auto& [seq, phase] : crash_once(path, first_seq, kill_after, extra, durability))
      all_acked[seq] = std::max(all_acked[seq], phase);

    LoadResult loaded;
    const auto rows = load_all(path, &loaded);
    std::size_t missing = 0;
    for (const auto& [seq, phase] : all_acked) {
      const auto row = rows.find(seq);
      if (row == rows.end() || phase_of(row->second) < phase) ++missing;
    }
    EXPECT_EQ(missing, 0u) << "acknowledged changes lost, of " << all_acked.size() << " jobs acknowledged";
    std::size_t torn = 0;
    for (const auto& [seq, row] : rows) torn += phase_of(row) == 0;
    EXPECT_EQ(torn, 0u) << "rows that are no state their job was ever in";
    EXPECT_GE(loaded.max_seq, all_acked.empty() ? 0 : all_acked.rbegin()->first);
    EXPECT_EQ(integrity(path), "ok");
    first_seq = loaded.max_seq + 1;
  }
  EXPECT_GT(all_acked.size(), 0u);
}

TEST(StoreCrash, EveryAcknowledgedChangeSurvivesKill9WithProcessDurability) {
  expect_survival(Durability::process, 6);
}

TEST(StoreCrash, EveryAcknowledgedChangeSurvivesKill9WithMachineDurability) {
  expect_survival(Durability::machine, 2);
}

}  // namespace
