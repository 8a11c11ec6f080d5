// LoopExecutor (exec/loop/loop_executor.hpp): every job gets exactly one on_finished, and a stop
// reaches the coroutine of the job it names, also when the job runs in an entry a finished job
// left behind (entries are reused: a cancellation must never go to the ended coroutine whose
// handler the entry last held). Real kinds (echo, sleep) on a real io_context. A kind that never
// waits (run_inline, as echo) runs in a handler posted to the loop: after submit returns, once,
// and not at all when stopped first.
#include "exec/loop/loop_executor.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "kinds/kind.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using jobd::exec::JobSeq;

namespace {

struct RecordingSink : jobd::exec::JobSink {
  std::vector<JobSeq> started;
  std::map<JobSeq, std::vector<jobd::exec::Outcome>> finished;
  void on_started(JobSeq seq, nlohmann::json) override { started.push_back(seq); }
  void on_progress(JobSeq, double, std::string) override {}
  void on_output(JobSeq, jobd::exec::OutputStream, std::string_view) override {}
  void on_finished(JobSeq seq, jobd::exec::Outcome outcome) override {
    finished[seq].push_back(std::move(outcome));
  }
};

struct Rig {
  asio::io_context loop;
  jobd::kinds::KindRegistry kinds;
  RecordingSink sink;
  jobd::exec::LoopExecutor executor{loop.get_executor(), sink, 100};

  Rig() {
    jobd::kinds::register_builtin_kinds(kinds);
    jobd::kinds::Kind boom;
    boom.name = "boom";
    boom.executors = {jobd::proto::Executor::loop};
    boom.params.free_form = true;
    boom.run_inline = [this](const nlohmann::json&) -> jobd::exec::Outcome {
      ++boom_calls;
      throw std::runtime_error("inline kind failed");
    };
    kinds.add(std::move(boom));
  }
  int boom_calls = 0;

  void submit(JobSeq seq, const char* kind, nlohmann::json params) {
    jobd::exec::JobTicket ticket;
    ticket.seq = seq;
    ticket.kind = kinds.find(kind);
    ticket.params = std::move(params);
    executor.submit(std::move(ticket));
  }
  // Runs the loop until it has no work left (or `limit`: a coroutine still waiting then).
  void run_dry(std::chrono::steady_clock::duration limit = 5s) {
    loop.restart();
    loop.run_for(limit);
  }
};

}  // namespace

TEST(LoopExecutor, EveryJobFinishesOnceWithItsOwnResultAcrossReusedEntries) {
  Rig rig;
  for (JobSeq seq = 1; seq <= 200; ++seq) {
    rig.submit(seq, "echo", {{"n", seq}});
    if (seq % 50 == 0) rig.run_dry();  // entries end and are reused by the next fifty
  }
  rig.run_dry();
  ASSERT_EQ(rig.sink.finished.size(), 200U);
  for (const auto& [seq, outcomes] : rig.sink.finished) {
    ASSERT_EQ(outcomes.size(), 1U) << seq;
    EXPECT_EQ(outcomes[0].state, jobd::proto::JobState::succeeded) << seq;
    EXPECT_EQ(outcomes[0].result, nlohmann::json({{"n", seq}})) << seq;
  }
  EXPECT_EQ(rig.executor.stats().running, 0U);
}

TEST(LoopExecutor, AStopReachesTheJobInAReusedEntryAndEndsItsCoroutine) {
  Rig rig;
  // Jobs that end by themselves, then one stopped (the newest entry left: the next job's),
  // leave their entries to the next jobs.
  for (JobSeq seq = 1; seq <= 8; ++seq) rig.submit(seq, "sleep", {{"ms", 1}});
  rig.run_dry();
  rig.submit(9, "sleep", {{"ms", 60'000}});
  rig.executor.stop(9, jobd::exec::StopReason::cancelled);
  rig.run_dry();
  ASSERT_EQ(rig.sink.finished.size(), 9U);
  EXPECT_EQ(rig.executor.stats().running, 0U);

  // Long sleeps in those entries: stopping one must end that one, not another, nor nothing.
  for (JobSeq seq = 10; seq <= 14; ++seq) rig.submit(seq, "sleep", {{"ms", 60'000}});
  rig.executor.stop(12, jobd::exec::StopReason::cancelled);
  rig.loop.restart();
  rig.loop.run_for(200ms);
  ASSERT_EQ(rig.sink.finished.count(12), 1U);
  EXPECT_EQ(rig.sink.finished[12][0].state, jobd::proto::JobState::cancelled);
  for (JobSeq seq : {10, 11, 13, 14}) EXPECT_EQ(rig.sink.finished.count(seq), 0U) << seq;
  EXPECT_EQ(rig.executor.stats().running, 4U);

  // The others stop as well; their coroutines end, so the loop runs out of work at once
  // rather than after a minute of sleeping.
  for (JobSeq seq : {10, 11, 13, 14}) rig.executor.stop(seq, jobd::exec::StopReason::shutdown);
  const auto started = std::chrono::steady_clock::now();
  rig.run_dry(30s);
  EXPECT_TRUE(rig.loop.stopped());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_EQ(rig.sink.finished.size(), 14U);
  for (const auto& [seq, outcomes] : rig.sink.finished) EXPECT_EQ(outcomes.size(), 1U) << seq;
}

TEST(LoopExecutor, AnInlineKindRunsAfterSubmitReturnsAndAStopBeforeThatRunsItNever) {
  Rig rig;
  rig.submit(1, "echo", {{"n", 1}});
  rig.submit(2, "echo", {{"n", 2}});
  rig.submit(3, "boom", nlohmann::json::object());
  rig.submit(4, "boom", nlohmann::json::object());
  // Started at once, as a coroutine's job is; nothing has run or finished yet.
  EXPECT_EQ(rig.sink.started, (std::vector<JobSeq>{1, 2, 3, 4}));
  EXPECT_TRUE(rig.sink.finished.empty());
  EXPECT_EQ(rig.executor.stats().running, 4U);

  rig.executor.stop(2, jobd::exec::StopReason::cancelled);
  rig.executor.stop(4, jobd::exec::StopReason::timed_out);
  ASSERT_EQ(rig.sink.finished.count(2), 1U);  // a stop finishes the job at once
  rig.run_dry();

  ASSERT_EQ(rig.sink.finished.size(), 4U);
  for (const auto& [seq, outcomes] : rig.sink.finished) ASSERT_EQ(outcomes.size(), 1U) << seq;
  EXPECT_EQ(rig.sink.finished[1][0].state, jobd::proto::JobState::succeeded);
  EXPECT_EQ(rig.sink.finished[1][0].result, nlohmann::json({{"n", 1}}));
  EXPECT_EQ(rig.sink.finished[2][0].state, jobd::proto::JobState::cancelled);
  // The kind's exception is the job's failure, not the loop's.
  EXPECT_EQ(rig.sink.finished[3][0].state, jobd::proto::JobState::failed);
  EXPECT_NE(rig.sink.finished[3][0].error_message.find("inline kind failed"), std::string::npos);
  EXPECT_EQ(rig.sink.finished[4][0].state, jobd::proto::JobState::timed_out);
  EXPECT_EQ(rig.boom_calls, 1);  // job 4 was stopped before its handler ran
  EXPECT_EQ(rig.executor.stats().running, 0U);
}
