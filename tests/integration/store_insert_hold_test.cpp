// The held insert (--insert-hold) under a real jobd on a real file: a ?wait submit's job that ends
// within the hold is one change, final; a longer one is stored while it runs and comes back
// interrupted after kill -9; the default follows --durability, and bad values stop start-up.
#include <gtest/gtest.h>
#include <signal.h>

#include <stdexcept>
#include <string>
#include <thread>

#include "harness.hpp"
#include "store_support.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;

// A submit that waits for its job's end (?wait) holds the job's insert back (--insert-hold): one
// that ends within the hold is stored once, final, in one commit (one change, not an insert and
// then a final); one that runs longer is stored while it runs, listed, and comes back
// interrupted after kill -9. The default ("auto") holds with --durability machine only, where a
// commit is an fsync; 0 (process durability's default) writes every job first.
TEST(StoreInsertHold, AWaitedJobIsStoredOnceFinalAndALongOneIsStoredWhileItRuns) {
  StoreDir dir;
  // Changes committed for 8 thread jobs submitted one at a time with ?wait.
  const auto changes_for_eight = [](JobdProcess& server) {
    const auto changes = [&] {
      return metric_value(get(server.port(), "/metrics").body, "jobd_store_commit_batch_size_sum");
    };
    const double before = changes();
    for (int i = 0; i < 8; ++i) {
      const auto done =
          submit(server.port(), {{"kind", "primes"}, {"executor", "thread"}, {"params", {{"n", 1000 + i}}}},
                 "?wait=5");
      EXPECT_EQ(done.status, 200) << done.body;
      EXPECT_EQ(done.json()["state"], "succeeded");
    }
    return changes() - before;
  };
  {
    // A hold no job outruns, even on a loaded machine: exactly one change a job.
    JobdProcess server(store_jobd_args(dir, {"--insert-hold", "30s"}));
    EXPECT_EQ(changes_for_eight(server), 8) << "each waited job is one change";
    EXPECT_EQ(list_all(server.port()).size(), 8u);
  }
  {
    JobdProcess server(store_jobd_args(dir));  // process durability: auto is 0
    EXPECT_EQ(changes_for_eight(server), 16) << "without a hold: an insert, then a final";
  }
  {
    // Auto is 5 ms with machine durability: all 8 would have to outrun it to make 16.
    JobdProcess server(store_jobd_args(dir, {"--durability", "machine"}));
    EXPECT_LT(changes_for_eight(server), 16) << "machine durability holds by default";
  }
  for (const char* bad : {"soon", "2m"}) {
    const JobdRun run = run_jobd_until_exit("--insert-hold " + std::string(bad));
    EXPECT_EQ(run.exit_code, 2) << bad;
    EXPECT_NE(run.output.find("--insert-hold"), std::string::npos) << run.output;
  }
  std::string long_id;
  {
    JobdProcess server(store_jobd_args(dir, {"--insert-hold", "5ms"}));
    std::thread client([&server] {
      try {
        submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 5000}}}}, "?wait=10");
      } catch (const std::runtime_error&) {  // killed under it
      }
    });
    const bool listed = eventually(
        [&] {
          for (const auto& [id, job] : list_all(server.port())) {
            if (job["kind"] == "sleep" && job["state"] == "running") long_id = id;
          }
          return !long_id.empty();
        },
        3s);
    EXPECT_TRUE(listed) << "a long job whose submit waits is stored while it runs";
    EXPECT_EQ(server.stop(SIGKILL, 5s), 128 + SIGKILL);
    client.join();
  }
  ASSERT_FALSE(long_id.empty());
  JobdProcess server(store_jobd_args(dir));
  const auto back = get(server.port(), "/v1/jobs/" + long_id);
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(back.json()["state"], "failed");
  EXPECT_EQ(back.json()["error"]["type"], "interrupted");
  EXPECT_EQ(list_all(server.port()).size(), 25u);
}

// GET /v1/events shows a job only once its insert is committed: a job whose insert is still held
// is not streamed while it runs, and after kill -9 it is gone, as the stream implied. A job
// written at once (a submit without ?wait) is streamed as usual.
TEST(StoreInsertHold, AStreamShowsNoJobWhoseInsertIsNotCommitted) {
  StoreDir dir;
  {
    JobdProcess server(store_jobd_args(dir, {"--insert-hold", "30s"}));
    RawConnection stream(server.port());
    ASSERT_TRUE(stream.send(open_stream_request("/v1/events")));
    ASSERT_NE(stream.read_some(5s).find("200"), std::string::npos) << "the stream's head first";
    const auto accepted = submit(server.port(), {{"kind", "echo"}, {"params", {{"n", 1}}}});
    ASSERT_EQ(accepted.status, 202) << accepted.body;
    std::thread client([&server] {
      try {
        submit(server.port(), {{"kind", "sleep"}, {"params", {{"ms", 3000}}}}, "?wait=10");
      } catch (const std::runtime_error&) {  // killed under it
      }
    });
    // The sleep job runs for the whole second: its queued and running states are a stream's
    // to show only once committed, and a 30 s hold keeps it uncommitted until it ends.
    const std::string raw = stream.read_all(1500ms);
    std::vector<std::string> seen;
    for (const auto& event : parse_sse(raw)) {
      if (event.type == "state")
        seen.push_back(event.data["kind"].get<std::string>() + " " + event.data["state"].get<std::string>());
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"echo queued", "echo running", "echo succeeded"})) << raw;
    EXPECT_EQ(server.stop(SIGKILL, 5s), 128 + SIGKILL);
    client.join();
  }
  JobdProcess server(store_jobd_args(dir));
  const auto jobs = list_all(server.port());
  ASSERT_EQ(jobs.size(), 1u) << "the held job was never stored, nor shown";
  EXPECT_EQ(jobs.begin()->second["kind"], "echo");
}
