// The process pool's supervision without a process (exec/process/worker_slots): events in,
// actions out. Start-up and readiness, warm (LIFO) dispatch and the FIFO queue, recycling
// after --worker-max-jobs with the replacement asked for at the last job, the crash, kill and
// recycle counters, the start-up back-off, a stop racing a result, a worker dying mid-job,
// broken frames, the fork server dying, and shutdown.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <map>

#include "worker_slots_pool.hpp"

using namespace jobd;
using namespace std::chrono_literals;
using exec::WorkerId;
using exec::WorkerSlots;
using Actions = WorkerSlots::Actions;
using proto::JobState;

using jobd::testing::all;
using jobd::testing::finished_states;
using jobd::testing::Pool;
using jobd::testing::run_target;
using jobd::testing::shape;

TEST(WorkerSlots, StartAsksForMWorkersAndIsReadyOnceAllSaidHello) {
  Pool pool({.workers = 3});
  const Actions started = pool.slots.start(pool.now);
  EXPECT_EQ(shape(started), "RequestSpawn RequestSpawn RequestSpawn");
  const auto workers = pool.spawn_all(started);
  EXPECT_EQ(pool.slots.worker_pids().size(), 3u);  // starting workers count toward M
  pool.hello(workers[0]);
  pool.hello(workers[1]);
  EXPECT_FALSE(pool.slots.ready());
  const Actions last = pool.hello(workers[2]);
  EXPECT_TRUE(pool.slots.ready());
  const auto logs = all<WorkerSlots::Log>(last);
  ASSERT_FALSE(logs.empty());
  EXPECT_EQ(logs.back().text, "process pool up: 3 workers");
}

TEST(WorkerSlots, AJobRunsOnTheWorkerThatWentIdleLast) {
  Pool pool({.workers = 2});
  const auto workers = pool.start_ready();
  const Actions first = pool.submit(1);
  EXPECT_EQ(shape(first), "SendRun ReportStarted");
  EXPECT_EQ(run_target(first), workers[1]);  // the last hello
  EXPECT_EQ(all<WorkerSlots::SendRun>(first).front().run.job_id, "job-1");
  EXPECT_EQ(all<WorkerSlots::SendRun>(first).front().run.kind, "primes");
  EXPECT_EQ(run_target(pool.submit(2)), workers[0]);
  pool.succeed(workers[0], 2);
  pool.succeed(workers[1], 1);
  EXPECT_EQ(run_target(pool.submit(3)), workers[1]);  // warm: it finished last
}

TEST(WorkerSlots, JobsWaitInOrderAndTheNextIsSentBeforeTheResultIsReported) {
  Pool pool({.workers = 1, .queue_depth = 2});
  const auto workers = pool.start_ready();
  pool.submit(1);
  EXPECT_TRUE(pool.submit(2).empty());
  EXPECT_TRUE(pool.submit(3).empty());
  EXPECT_FALSE(pool.slots.has_room());
  EXPECT_EQ(pool.slots.stats().queued, 2u);
  const Actions done = pool.succeed(workers[0], 1);
  EXPECT_EQ(shape(done), "SendRun ReportStarted FinishJob");
  EXPECT_EQ(all<WorkerSlots::SendRun>(done).front().run.job_id, "job-2");
  EXPECT_EQ(all<WorkerSlots::FinishJob>(done).front().seq, 1u);
  EXPECT_TRUE(pool.slots.has_room());
}

TEST(WorkerSlots, RecyclesAfterMaxJobsAskingForTheReplacementAtTheLastJob) {
  Pool pool({.workers = 1, .max_jobs_per_worker = 2});
  const WorkerId first = pool.start_ready().front();
  pool.submit(1);
  pool.succeed(first, 1);
  // Its second job is its last: the replacement is asked for now, before the job ends.
  const Actions last_job = pool.submit(2);
  EXPECT_EQ(shape(last_job), "RequestSpawn SendRun ReportStarted");
  const WorkerId second = pool.spawn_all(last_job).front();
  pool.hello(second);
  EXPECT_EQ(pool.slots.worker_pids().size(), 1u);  // the old one no longer counts
  // Its result retires it: EOF on its socket, no new spawn (already there).
  const Actions retired = pool.succeed(first, 2);
  EXPECT_EQ(shape(retired), "CloseSocket FinishJob");
  EXPECT_EQ(all<WorkerSlots::CloseSocket>(retired).front().worker, first);
  EXPECT_EQ(pool.restarts("recycle"), 1u);
  EXPECT_EQ(run_target(pool.submit(3)), second);
  // Its exit was expected: no crash, no spawn.
  const Actions exited = pool.exit(first, CLD_EXITED, 0);
  EXPECT_EQ(shape(exited), "");
  EXPECT_EQ(pool.restarts("crash"), 0u);
}

TEST(WorkerSlots, AWorkerDyingMidJobFailsOnlyThatJobAndIsReplacedAtOnce) {
  Pool pool({.workers = 2});
  const auto workers = pool.start_ready();
  const WorkerId busy = run_target(pool.submit(1));
  pool.submit(2);
  const Actions died = pool.exit(busy, CLD_KILLED, SIGSEGV);
  EXPECT_EQ(shape(died), "FinishJob RequestSpawn");
  const auto finish = all<WorkerSlots::FinishJob>(died).front();
  EXPECT_EQ(finish.seq, 1u);
  EXPECT_EQ(finish.outcome.state, JobState::failed);
  EXPECT_EQ(finish.outcome.error_type, "crashed");
  EXPECT_EQ(finish.outcome.error_message, "worker killed by signal 11 (SIGSEGV)");
  EXPECT_EQ(pool.restarts("crash"), 1u);
  EXPECT_EQ(pool.slots.stats().running, 1u);  // job 2 is untouched
  // The replacement logs how long the pool was a worker short.
  const WorkerId replacement = pool.spawn_all(died).front();
  pool.now += 1500us;
  const auto logs = all<WorkerSlots::Log>(pool.hello(replacement));
  ASSERT_FALSE(logs.empty());
  EXPECT_EQ(logs.front().text, "worker 102 ready, replacing a lost one (respawn 1500 us)");
}

TEST(WorkerSlots, AStopKillsTheWorkerFinishesTheJobAtOnceAndCountsAKill) {
  Pool pool({.workers = 1});
  const WorkerId worker = pool.start_ready().front();
  pool.submit(1);
  const Actions stopped = pool.slots.stop(1, exec::StopReason::timed_out, pool.now);
  EXPECT_EQ(shape(stopped), "KillGroup RequestSpawn FinishJob");
  EXPECT_EQ(all<WorkerSlots::KillGroup>(stopped).front().worker, worker);
  EXPECT_EQ(finished_states(stopped), std::vector<JobState>{JobState::timed_out});
  EXPECT_EQ(pool.restarts("kill"), 1u);
  EXPECT_EQ(pool.slots.stats().running, 0u);
  // The killed worker's exit is expected: nothing more to finish, no crash.
  EXPECT_EQ(shape(pool.exit(worker, CLD_KILLED, SIGKILL)), "");
  EXPECT_EQ(pool.restarts("crash"), 0u);
}

TEST(WorkerSlots, AResultRacingAStopIsDroppedSoTheJobFinishesOnce) {
  Pool pool({.workers = 1});
  const WorkerId worker = pool.start_ready().front();
  pool.submit(1);
  pool.slots.stop(1, exec::StopReason::cancelled, pool.now);
  // The result was already on its way when the worker was killed.
  EXPECT_FALSE(pool.slots.listening_to(worker));
  EXPECT_TRUE(pool.succeed(worker, 1).empty());
  EXPECT_TRUE(pool.slots.broken_frame(worker, "garbage", pool.now).empty());
  EXPECT_EQ(pool.restarts("crash"), 0u);
}

TEST(WorkerSlots, AStopAfterTheResultChangesNothing) {
  Pool pool({.workers = 1});
  const WorkerId worker = pool.start_ready().front();
  pool.submit(1);
  EXPECT_EQ(finished_states(pool.succeed(worker, 1)), std::vector<JobState>{JobState::succeeded});
  EXPECT_TRUE(pool.slots.stop(1, exec::StopReason::cancelled, pool.now).empty());
  EXPECT_EQ(pool.restarts("kill"), 0u);
  EXPECT_EQ(run_target(pool.submit(2)), worker);
}

TEST(WorkerSlots, AQueuedJobStoppedNeverRuns) {
  Pool pool({.workers = 1});
  const WorkerId worker = pool.start_ready().front();
  pool.submit(1);
  pool.submit(2);
  const Actions stopped = pool.slots.stop(2, exec::StopReason::cancelled, pool.now);
  EXPECT_EQ(shape(stopped), "FinishJob");
  EXPECT_EQ(finished_states(stopped), std::vector<JobState>{JobState::cancelled});
  EXPECT_EQ(shape(pool.succeed(worker, 1)), "FinishJob");  // nothing left to send
}

TEST(WorkerSlots, ABrokenFrameKillsTheWorkerAndItsJobFailsWithTheReasonOnceItExited) {
  Pool pool({.workers = 1});
  const WorkerId worker = pool.start_ready().front();
  pool.submit(1);
  const Actions broken = pool.slots.broken_frame(worker, "bad magic", pool.now);
  EXPECT_EQ(shape(broken), "KillGroup RequestSpawn");
  const Actions exited = pool.exit(worker, CLD_KILLED, SIGKILL);
  EXPECT_EQ(shape(exited), "FinishJob");
  EXPECT_EQ(all<WorkerSlots::FinishJob>(exited).front().outcome.error_message,
            "worker sent a broken frame: bad magic");
  EXPECT_EQ(pool.restarts("crash"), 1u);
}

TEST(WorkerSlots, ASecondHelloAResultForAnotherJobOrARunFrameIsBroken) {
  Pool pool({.workers = 3});
  const auto workers = pool.start_ready();
  EXPECT_EQ(shape(pool.hello(workers[0])), "KillGroup RequestSpawn");
  pool.submit(1);  // on workers[2]
  EXPECT_EQ(shape(pool.succeed(workers[2], 99)), "KillGroup RequestSpawn");
  EXPECT_EQ(shape(pool.slots.message(workers[1], proto::Run{"x", "primes", {}, 0}, pool.now)),
            "KillGroup RequestSpawn");
}

TEST(WorkerSlots, ProgressIsReportedOnlyForTheRunningJobWhileWatched) {
  Pool pool({.workers = 2});
  const auto workers = pool.start_ready();
  pool.submit(1, /*watched=*/true);   // on workers[1]
  pool.submit(2, /*watched=*/false);  // on workers[0]
  const Actions watched = pool.slots.message(workers[1], proto::Progress{"job-1", 0.5, "half"}, pool.now);
  ASSERT_EQ(shape(watched), "ReportProgress");
  EXPECT_EQ(all<WorkerSlots::ReportProgress>(watched).front().text, "half");
  EXPECT_TRUE(pool.slots.message(workers[0], proto::Progress{"job-2", 0.5, ""}, pool.now).empty());
  EXPECT_TRUE(pool.slots.message(workers[1], proto::Progress{"job-2", 0.5, ""}, pool.now).empty());
}

TEST(WorkerSlots, WorkersDyingAtStartUpAreReplacedOneAtATimeAfterADoublingDelay) {
  Pool pool({.workers = 2});
  auto starting = pool.spawn_all(pool.slots.start(pool.now));
  // The first dies before its hello: back off instead of respawning in a loop.
  const Actions first = pool.exit(starting[0], CLD_EXITED, 113);
  ASSERT_EQ(shape(first), "StartBackoff");
  EXPECT_EQ(all<WorkerSlots::StartBackoff>(first).front().delay, 10ms);
  // Meanwhile another dies: the timer already runs.
  EXPECT_EQ(shape(pool.exit(starting[1], CLD_EXITED, 113)), "");
  // One spawn when it runs out, whose death doubles the delay, up to the cap.
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 9; ++i) {
    const Actions elapsed = pool.slots.backoff_elapsed(pool.now);
    ASSERT_EQ(shape(elapsed), "RequestSpawn");
    const WorkerId next = pool.spawn_all(elapsed).front();
    const Actions died = pool.exit(next, CLD_KILLED, SIGSEGV);
    ASSERT_EQ(shape(died), "StartBackoff");
    delays.push_back(all<WorkerSlots::StartBackoff>(died).front().delay);
  }
  EXPECT_EQ(delays.front(), 40ms);
  EXPECT_EQ(delays.back(), WorkerSlots::kMaxBackoff);
  EXPECT_EQ(pool.restarts("crash"), 11u);
  EXPECT_FALSE(pool.slots.ready());
  // A worker that says hello ends the back-off: the rest of the pool is asked for at once.
  const WorkerId healthy = pool.spawn_all(pool.slots.backoff_elapsed(pool.now)).front();
  EXPECT_EQ(shape(pool.hello(healthy)), "RequestSpawn");
}

TEST(WorkerSlots, AFailedForkIsAStartUpFailure) {
  Pool pool({.workers = 1});
  const auto requests = all<WorkerSlots::RequestSpawn>(pool.slots.start(pool.now));
  const Actions failed = pool.slots.spawn_failed(requests.front().token, EAGAIN, pool.now);
  EXPECT_EQ(shape(failed), "StartBackoff");
  EXPECT_EQ(all<WorkerSlots::Log>(failed).front().text,
            "process pool: cannot start a worker: Resource temporarily unavailable");
}

TEST(WorkerSlots, AnIdleWorkerThatDiesAfterWorkingIsReplacedAtOnce) {
  Pool pool({.workers = 1});
  const WorkerId worker = pool.start_ready().front();
  pool.submit(1);
  pool.succeed(worker, 1);
  EXPECT_EQ(shape(pool.exit(worker, CLD_KILLED, SIGKILL)), "RequestSpawn");
  EXPECT_EQ(pool.restarts("crash"), 1u);
}

TEST(WorkerSlots, WithoutTheForkServerNothingIsReplacedAndThePoolIsNotReady) {
  Pool pool({.workers = 1});
  const WorkerId worker = pool.start_ready().front();
  ASSERT_TRUE(pool.slots.ready());
  EXPECT_EQ(all<WorkerSlots::Log>(pool.slots.fork_server_gone()).front().level,
            WorkerSlots::LogLevel::critical);
  EXPECT_FALSE(pool.slots.ready());
  EXPECT_EQ(shape(pool.exit(worker, CLD_KILLED, SIGKILL)), "");
}

TEST(WorkerSlots, ShutdownFinishesEveryJobKillsBusyWorkersAndClosesTheRest) {
  Pool pool({.workers = 2});
  const auto workers = pool.start_ready();
  pool.submit(1);  // on workers[1]
  pool.submit(2);  // on workers[0]
  pool.succeed(workers[0], 2);
  pool.submit(3);               // on workers[0]
  pool.submit(4);               // queued
  pool.succeed(workers[0], 3);  // job 4 moves to workers[0]
  pool.submit(5);               // queued
  const Actions down = pool.slots.shutdown();
  EXPECT_EQ(shape(down), "FinishJob KillGroup FinishJob KillGroup FinishJob");
  EXPECT_EQ(finished_states(down), std::vector<JobState>(3, JobState::cancelled));
  EXPECT_EQ(all<WorkerSlots::FinishJob>(down).front().seq, 5u);  // the queue first
  // Later events are ignored; a late submission is refused the same way.
  EXPECT_TRUE(pool.slots.shutdown().empty());
  EXPECT_TRUE(pool.succeed(workers[1], 1).empty());
  EXPECT_TRUE(pool.exit(workers[1], CLD_KILLED, SIGKILL).empty());
  EXPECT_EQ(finished_states(pool.submit(6)), std::vector<JobState>{JobState::cancelled});
}

TEST(WorkerSlots, ShutdownTellsIdleAndStartingWorkersToExit) {
  Pool pool({.workers = 2});
  const auto workers = pool.spawn_all(pool.slots.start(pool.now));
  pool.hello(workers[0]);
  const Actions down = pool.slots.shutdown();
  EXPECT_EQ(shape(down), "CloseSocket CloseSocket");
  EXPECT_EQ(all<WorkerSlots::CloseSocket>(down).back().worker, workers[1]);
}
