#include "jobs/recovery.hpp"

#include <vector>

#include "jobs/scheduler.hpp"

namespace jobd::jobs {

namespace {

const kinds::Kind& kind_named(const std::string& name, const kinds::KindRegistry& kinds,
                              std::deque<kinds::Kind>& unknown_kinds) {
  if (const kinds::Kind* kind = kinds.find(name)) return *kind;
  for (const auto& unknown : unknown_kinds) {
    if (unknown.name == name) return unknown;
  }
  kinds::Kind& stand_in = unknown_kinds.emplace_back();
  stand_in.name = name;
  stand_in.description = "no longer registered";
  return stand_in;
}

bool registered(const kinds::Kind& kind, const kinds::KindRegistry& kinds) {
  return kinds.find(kind.name) == &kind;
}

}  // namespace

RecoveryReport recover_jobs(store::JobStore& store, Scheduler& scheduler, const kinds::KindRegistry& kinds,
                            std::deque<kinds::Kind>& unknown_kinds, Clock::time_point now) {
  const auto started = std::chrono::steady_clock::now();
  RecoveryReport report;
  JobTable& table = scheduler.table();
  std::vector<JobSeq> active;
  const store::LoadResult loaded = store.load([&](store::JobRow& row) {
    const kinds::Kind& kind = kind_named(row.kind, kinds, unknown_kinds);
    const Job& job = table.restore(row, kind);
    if (proto::is_final(job.state))
      ++report.finished;
    else
      active.push_back(job.seq);
  });
  if (!loaded.error.empty()) {
    report.error = loaded.error;
    return report;
  }
  table.end_restore(loaded.max_seq);
  // Retention as well as the limits, before anybody can read: a finished job evicted before a
  // kill -9 whose delete was still deferred (JobStore::evict) is evicted again here.
  table.evict_expired(now);
  for (const JobSeq seq : active) {
    const Job* job = table.get(seq);
    if (job == nullptr) continue;
    if (!registered(*job->kind, kinds)) {
      table.finish(
          seq,
          proto::Outcome::failure(
              proto::job_error::internal,
              "kind '" + job->kind->name + "' is not registered since jobd restarted (see GET /v1/kinds)"),
          now);
      ++report.failed;
    } else {
      // The scheduler puts it back on its way (Scheduler::resume): a queued job is due now or
      // at its run_at; a running one ends that attempt as `interrupted`, retried while attempts
      // remain.
      const bool was_running = job->state == proto::JobState::running;
      scheduler.resume(*job);
      const Job* after = table.get(seq);
      // With a durable store a final state is pending until its commit: the job ended here.
      if (after == nullptr || proto::is_final(after->state) || table.final_pending(*after)) {
        ++(was_running ? report.interrupted : report.failed);
      } else {
        ++(was_running ? report.retried : report.queued);
      }
    }
  }
  report.took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  return report;
}

}  // namespace jobd::jobs
