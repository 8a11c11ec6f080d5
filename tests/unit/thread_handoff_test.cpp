// The loop ↔ thread-pool hand-off (exec/thread/thread_executor): jobs go from the loop thread to pool
// threads and their progress and outcomes come back by asio::post. Run by the ordinary unit
// tests and, built with -fsanitize=thread, by `jobd_tsan_tests` (scripts/test), where any data
// race between the loop and the pool is a failure.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <map>
#include <random>
#include <thread>

#include "exec/thread/thread_executor.hpp"
#include "kinds/kind.hpp"

using namespace jobd;
using namespace std::chrono_literals;

namespace {

// Records what the executor reports, and checks it is reported on the loop thread only.
class RecordingSink : public exec::JobSink {
 public:
  explicit RecordingSink(std::thread::id loop_thread) : loop_thread_(loop_thread) {}
  void on_started(exec::JobSeq seq, nlohmann::json) override {
    EXPECT_EQ(std::this_thread::get_id(), loop_thread_);
    ++started[seq];
  }
  void on_progress(exec::JobSeq seq, double fraction, std::string) override {
    EXPECT_EQ(std::this_thread::get_id(), loop_thread_);
    EXPECT_GE(fraction, 0.0);
    ++progress[seq];
  }
  void on_output(exec::JobSeq, exec::OutputStream, std::string_view) override {
    ADD_FAILURE() << "no output";
  }
  void on_finished(exec::JobSeq seq, exec::Outcome outcome) override {
    EXPECT_EQ(std::this_thread::get_id(), loop_thread_);
    finished[seq].push_back(outcome.state);
  }
  std::map<exec::JobSeq, int> started;
  std::map<exec::JobSeq, int> progress;
  std::map<exec::JobSeq, std::vector<proto::JobState>> finished;

 private:
  std::thread::id loop_thread_;
};

// A CPU kind that spins for `us` microseconds, reporting progress and polling its stop token.
kinds::Kind spinning_kind() {
  kinds::Kind kind;
  kind.name = "spin";
  kind.executors = {proto::Executor::thread};
  kind.run_on_cpu = [](const nlohmann::json& params, kinds::CpuContext& ctx) {
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::microseconds(params.at("us").get<int>());
    std::uint64_t turns = 0;
    while (std::chrono::steady_clock::now() < until) {
      if (ctx.stop.stop_requested()) return kinds::Outcome::failure("cancelled", "stopped");
      if (++turns % 64 == 0) ctx.progress(0.5, "spinning");
    }
    if (params.value("fail", false)) throw std::runtime_error("kind threw");
    return kinds::Outcome::success({{"turns", turns}});
  };
  return kind;
}

}  // namespace

TEST(ThreadHandoff, EveryJobIsFinishedExactlyOnceOnTheLoopWhileStopsRace) {
  boost::asio::io_context loop(1);
  RecordingSink sink(std::this_thread::get_id());
  const kinds::Kind kind = spinning_kind();
  exec::ThreadExecutor executor(loop.get_executor(), sink,
                                {.threads = 3, .queue_capacity = 64, .nice = 0, .spin = 20us});
  std::mt19937 random(42);
  constexpr exec::JobSeq kJobs = 600;
  std::map<exec::JobSeq, std::shared_ptr<exec::JobControl>> controls;
  exec::JobSeq next = 1;
  // Submits while there is room, stops a random earlier job now and then, and lets the loop
  // run the hand-offs in between: submissions, stops and completions interleave.
  while (sink.finished.size() < kJobs) {
    while (next <= kJobs && executor.has_room()) {
      auto control = std::make_shared<exec::JobControl>();
      control->watched.store(next % 2 == 0);
      controls[next] = control;
      nlohmann::json params = {{"us", static_cast<int>(random() % 400)}, {"fail", next % 17 == 0}};
      executor.submit({next, "job-" + std::to_string(next), &kind, std::move(params),
                       std::chrono::steady_clock::time_point::max(), control});
      if (random() % 4 == 0) {
        const exec::JobSeq victim = 1 + random() % next;
        controls[victim]->stop.request_stop();
        executor.stop(victim, exec::StopReason::cancelled);
      }
      ++next;
    }
    loop.run_for(1ms);
    loop.restart();
  }
  executor.shutdown();
  loop.run_for(10ms);  // hand-offs posted by the last tasks are dropped, not delivered twice

  ASSERT_EQ(sink.finished.size(), kJobs);
  int cancelled = 0;
  int failed = 0;
  for (const auto& [seq, states] : sink.finished) {
    ASSERT_EQ(states.size(), 1u) << "job " << seq << " finished " << states.size() << " times";
    cancelled += states[0] == proto::JobState::cancelled;
    failed += states[0] == proto::JobState::failed;
  }
  EXPECT_GT(cancelled, 0);
  EXPECT_GT(failed, 0);
  // Progress is handed off only for jobs somebody listens to (even seq here).
  for (const auto& [seq, count] : sink.progress)
    EXPECT_EQ(seq % 2, 0u) << "progress of unwatched job " << seq;
  EXPECT_FALSE(sink.progress.empty());
}

TEST(JobControl, AStopRequestedBeforeItsStateIsMadeIsCarriedOverAndTokensFollowLaterOnes) {
  exec::JobControl early;
  EXPECT_FALSE(early.stop.stop_possible()) << "no shared state (an allocation) until prepare_stop";
  early.request_stop();
  EXPECT_TRUE(early.prepare_stop().stop_requested());
  exec::JobControl later;
  const std::stop_token token = later.prepare_stop().get_token();
  EXPECT_FALSE(token.stop_requested());
  later.prepare_stop();  // made once: the token stays linked
  later.request_stop();
  EXPECT_TRUE(token.stop_requested());
}

TEST(ThreadHandoff, AJobStoppedBeforeItWasSubmittedNeverRuns) {
  boost::asio::io_context loop(1);
  RecordingSink sink(std::this_thread::get_id());
  std::atomic<int> runs{0};
  kinds::Kind kind;
  kind.name = "count";
  kind.executors = {proto::Executor::thread};
  kind.run_on_cpu = [&runs](const nlohmann::json&, kinds::CpuContext&) {
    ++runs;
    return kinds::Outcome::success(nullptr);
  };
  // One thread: the tasks run in order, so once the second job finished the first was taken.
  exec::ThreadExecutor executor(loop.get_executor(), sink, {.threads = 1, .queue_capacity = 4, .nice = 0});
  auto stopped = std::make_shared<exec::JobControl>();
  stopped->request_stop();  // as the scheduler does for a job cancelled before it was submitted
  executor.submit(
      {1, "job-1", &kind, nlohmann::json::object(), std::chrono::steady_clock::time_point::max(), stopped});
  executor.submit({2, "job-2", &kind, nlohmann::json::object(), std::chrono::steady_clock::time_point::max(),
                   std::make_shared<exec::JobControl>()});
  for (int turn = 0; turn < 10000 && !sink.finished.contains(2); ++turn) {
    loop.run_for(1ms);  // returns at once while nothing was posted yet
    loop.restart();
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(sink.finished.contains(2));
  EXPECT_EQ(runs.load(), 1) << "only the job that was not stopped ran";
  EXPECT_FALSE(sink.finished.contains(1));
  executor.stop(1, exec::StopReason::cancelled);
  executor.shutdown();
}
