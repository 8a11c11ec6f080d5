// The process pool's pipeline (--worker-pipeline) without a process: jobs sent ahead to busy
// workers, in order and balanced, started when the worker reaches them, a stop while ahead, a
// death or a kill with jobs ahead (they go back to the queue), recycling and shutdown.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <csignal>

#include "worker_slots_pool.hpp"

using namespace jobd;
using namespace jobd::testing;

// ---- a pipeline: jobs sent ahead to busy workers (--worker-pipeline) ---------------------------

namespace {
std::vector<exec::JobSeq> started(const Actions& actions) {
  std::vector<exec::JobSeq> seqs;
  for (const auto& start : all<WorkerSlots::ReportStarted>(actions)) seqs.push_back(start.seq);
  return seqs;
}
std::vector<std::string> sent(const Actions& actions) {
  std::vector<std::string> ids;
  for (const auto& run : all<WorkerSlots::SendRun>(actions)) ids.push_back(run.run.job_id);
  return ids;
}
}  // namespace

TEST(WorkerSlots, WithAPipelineABusyWorkerIsSentJobsAheadAndStartsThemInOrder) {
  Pool pool({.workers = 1, .queue_depth = 4, .pipeline = 3});
  const WorkerId worker = pool.start_ready().front();
  EXPECT_EQ(shape(pool.submit(1)), "SendRun ReportStarted");
  // Sent at once, started only when the job before them ends.
  EXPECT_EQ(shape(pool.submit(2)), "SendRun");
  EXPECT_EQ(shape(pool.submit(3)), "SendRun");
  EXPECT_TRUE(pool.submit(4).empty());  // the pipeline is full: it waits in jobd
  EXPECT_EQ(pool.slots.stats().running, 1u);
  EXPECT_EQ(pool.slots.stats().queued, 3u);
  EXPECT_TRUE(pool.slots.has_room());
  pool.submit(5);
  EXPECT_FALSE(pool.slots.has_room()) << "jobs sent ahead count toward --queue-depth";
  const Actions first = pool.succeed(worker, 1);
  EXPECT_EQ(shape(first), "ReportStarted SendRun FinishJob");
  EXPECT_EQ(started(first), std::vector<exec::JobSeq>{2});
  EXPECT_EQ(sent(first), std::vector<std::string>{"job-4"});
  EXPECT_EQ(all<WorkerSlots::FinishJob>(first).front().seq, 1u);
  EXPECT_EQ(started(pool.succeed(worker, 2)), std::vector<exec::JobSeq>{3});
  // A result out of order is a broken worker, as before.
  const Actions wrong = pool.succeed(worker, 5);
  EXPECT_EQ(shape(wrong), "KillGroup RequestSpawn");
}

TEST(WorkerSlots, JobsAreSentAheadOnlyWhileNoWorkerIsIdleAndToTheLeastLoaded) {
  Pool pool({.workers = 2, .pipeline = 3});
  const auto workers = pool.start_ready();
  const WorkerId a = run_target(pool.submit(1));
  const WorkerId b = run_target(pool.submit(2));
  EXPECT_NE(a, b) << "an idle worker first";
  const WorkerId c = run_target(pool.submit(3));
  const WorkerId d = run_target(pool.submit(4));
  EXPECT_NE(c, d) << "one ahead each before a second";
  pool.submit(5);
  pool.submit(6);
  EXPECT_TRUE(pool.submit(7).empty());
  EXPECT_EQ(pool.slots.stats().queued, 5u);
  EXPECT_EQ(pool.slots.stats().running, 2u);
}

TEST(WorkerSlots, AJobStoppedWhileSentAheadEndsAtOnceAndItsWorkerIsKilledWhenItGetsThere) {
  Pool pool({.workers = 1, .pipeline = 3});
  const WorkerId worker = pool.start_ready().front();
  pool.submit(1);
  pool.submit(2);
  pool.submit(3);
  const Actions stopped = pool.slots.stop(2, exec::StopReason::cancelled, pool.now);
  EXPECT_EQ(shape(stopped), "FinishJob") << "no kill: the worker runs job 1";
  EXPECT_EQ(finished_states(stopped), std::vector<JobState>{JobState::cancelled});
  EXPECT_TRUE(pool.slots.stop(2, exec::StopReason::cancelled, pool.now).empty()) << "stopped once";
  // Job 1 ends: the worker is now in job 2, which only a kill stops. Job 3 never started: it
  // goes back to the queue for the replacement.
  const Actions reached = pool.succeed(worker, 1);
  EXPECT_EQ(shape(reached), "KillGroup RequestSpawn FinishJob");
  EXPECT_EQ(all<WorkerSlots::FinishJob>(reached).front().seq, 1u);
  EXPECT_EQ(finished_states(reached), std::vector<JobState>{JobState::succeeded});
  EXPECT_EQ(pool.restarts("kill"), 1u);
  EXPECT_EQ(pool.slots.stats().queued, 1u);
  EXPECT_EQ(pool.slots.stats().running, 0u);
  const WorkerId replacement = pool.spawn_all(reached).front();
  const Actions ready = pool.hello(replacement);
  EXPECT_EQ(sent(ready), std::vector<std::string>{"job-3"});
  EXPECT_EQ(started(ready), std::vector<exec::JobSeq>{3});
  // The killed worker's exit is expected: nothing more to finish.
  EXPECT_EQ(shape(pool.exit(worker, CLD_KILLED, SIGKILL)), "");
}

TEST(WorkerSlots, AWorkerDyingWithJobsAheadFailsOnlyItsRunningJobTheOthersRunElsewhere) {
  Pool pool({.workers = 2, .pipeline = 3});
  const auto workers = pool.start_ready();
  const WorkerId first = run_target(pool.submit(1));
  run_target(pool.submit(2));
  const WorkerId dies = run_target(pool.submit(3));
  const WorkerId lives = run_target(pool.submit(4));
  ASSERT_NE(dies, lives);
  const exec::JobSeq running_on_dies = dies == first ? 1 : 2;
  const Actions died = pool.exit(dies, CLD_KILLED, SIGSEGV);
  EXPECT_EQ(finished_states(died), std::vector<JobState>{JobState::failed});
  EXPECT_EQ(all<WorkerSlots::FinishJob>(died).front().seq, running_on_dies);
  // Job 3 is sent ahead again, to the worker that is left, behind job 4; nothing started.
  EXPECT_EQ(sent(died), std::vector<std::string>{"job-3"});
  EXPECT_EQ(run_target(died), lives);
  EXPECT_EQ(started(died), std::vector<exec::JobSeq>{});
  EXPECT_EQ(started(pool.succeed(lives, 3 - running_on_dies)), std::vector<exec::JobSeq>{4});
  EXPECT_EQ(started(pool.succeed(lives, 4)), std::vector<exec::JobSeq>{3});
}

TEST(WorkerSlots, StoppingTheRunningJobPutsTheJobsSentAheadBackAtTheFrontOfTheQueue) {
  Pool pool({.workers = 1, .pipeline = 3});
  const WorkerId worker = pool.start_ready().front();
  pool.submit(1);
  pool.submit(2);
  pool.submit(3);
  pool.submit(4);
  const Actions stopped = pool.slots.stop(1, exec::StopReason::timed_out, pool.now);
  EXPECT_EQ(shape(stopped), "KillGroup RequestSpawn FinishJob");
  EXPECT_EQ(pool.slots.stats().queued, 3u);
  const WorkerId replacement = pool.spawn_all(stopped).front();
  const Actions ready = pool.hello(replacement);
  EXPECT_EQ(sent(ready), (std::vector<std::string>{"job-2", "job-3", "job-4"})) << "in their order";
  EXPECT_EQ(started(ready), std::vector<exec::JobSeq>{2});
  EXPECT_EQ(shape(pool.exit(worker, CLD_KILLED, SIGKILL)), "");
}

TEST(WorkerSlots, JobsSentAheadCountTowardRecyclingAndShutdownFinishesThem) {
  Pool pool({.workers = 1, .max_jobs_per_worker = 2, .pipeline = 4});
  pool.start_ready();
  pool.submit(1);
  // Its second job, sent ahead, is its last: the replacement is asked for now.
  EXPECT_EQ(shape(pool.submit(2)), "RequestSpawn SendRun");
  EXPECT_TRUE(pool.submit(3).empty()) << "nothing beyond its last job";
  const Actions down = pool.slots.shutdown();
  std::vector<exec::JobSeq> seqs;
  for (const auto& finish : all<WorkerSlots::FinishJob>(down)) seqs.push_back(finish.seq);
  std::sort(seqs.begin(), seqs.end());
  EXPECT_EQ(seqs, (std::vector<exec::JobSeq>{1, 2, 3}));
  EXPECT_EQ(pool.slots.stats().queued, 0u);
  EXPECT_EQ(pool.slots.stats().running, 0u);
}
