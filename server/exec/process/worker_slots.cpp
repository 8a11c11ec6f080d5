#include "exec/process/worker_slots.hpp"

#include <algorithm>
#include <cstring>

#include "kinds/kind.hpp"

namespace jobd::exec {

namespace {

std::int64_t microseconds_between(WorkerSlots::TimePoint from, WorkerSlots::TimePoint to) {
  return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

}  // namespace

WorkerSlots::WorkerSlots(ProcessPoolOptions options, std::uint64_t cpu_seconds_per_job)
    : options_(options), cpu_seconds_per_job_(cpu_seconds_per_job) {}

WorkerSlots::Slot* WorkerSlots::find(WorkerId worker) {
  auto it = slots_.find(worker);
  return it == slots_.end() ? nullptr : &it->second;
}

bool WorkerSlots::listening_to(WorkerId worker) const {
  auto it = slots_.find(worker);
  return !shut_down_ && it != slots_.end() && it->second.state != State::dying;
}

std::size_t WorkerSlots::counted_workers() const {
  std::size_t count = 0;
  for (const auto& [id, slot] : slots_) count += slot.counted ? 1 : 0;
  return count;
}

// ---- supervision ---------------------------------------------------------------------------

WorkerSlots::Actions WorkerSlots::start(TimePoint now) {
  Actions out;
  top_up(out, now, std::nullopt);
  return out;
}

void WorkerSlots::top_up(Actions& out, TimePoint now, std::optional<TimePoint> death) {
  if (shut_down_ || !fork_server_alive_) return;
  if (backing_off_) return;  // backoff_elapsed() calls again
  if (startup_failures_ > 0) {
    // One at a time while workers die at start, each after a growing delay.
    if (!pending_spawns_.empty()) return;
    const auto delay = std::min<std::chrono::milliseconds>(
        kFirstBackoff * (1u << std::min(startup_failures_ - 1, 7u)), kMaxBackoff);
    backing_off_ = true;
    out.emplace_back(StartBackoff{delay});
    return;
  }
  while (counted_workers() + pending_spawns_.size() < options_.workers) request_spawn(out, now, death);
}

void WorkerSlots::request_spawn(Actions& out, TimePoint now, std::optional<TimePoint> death) {
  const std::uint64_t token = ++next_token_;
  pending_spawns_.emplace(token, PendingSpawn{now, death});
  out.emplace_back(RequestSpawn{token});
}

WorkerSlots::Actions WorkerSlots::backoff_elapsed(TimePoint now) {
  Actions out;
  backing_off_ = false;
  if (shut_down_ || !fork_server_alive_) return out;
  if (counted_workers() + pending_spawns_.size() < options_.workers) request_spawn(out, now, std::nullopt);
  return out;
}

WorkerId WorkerSlots::spawned(std::uint64_t token, pid_t pid, TimePoint now) {
  Slot slot;
  slot.id = ++next_worker_;
  slot.pid = pid;
  slot.requested = now;
  if (auto pending = pending_spawns_.extract(token); !pending.empty()) {
    slot.requested = pending.mapped().requested;
    slot.replaces_death = pending.mapped().replaces_death;
  }
  const WorkerId id = slot.id;
  slots_.emplace(id, std::move(slot));
  return id;
}

WorkerSlots::Actions WorkerSlots::spawn_failed(std::uint64_t token, int error, TimePoint now) {
  Actions out;
  if (shut_down_) return out;
  pending_spawns_.erase(token);
  ++startup_failures_;
  out.emplace_back(
      Log{LogLevel::error, "process pool: cannot start a worker: " + std::string(std::strerror(error))});
  top_up(out, now, std::nullopt);
  return out;
}

WorkerSlots::Actions WorkerSlots::fork_server_gone() {
  Actions out;
  if (!fork_server_alive_) return out;
  fork_server_alive_ = false;
  // The text is built apart: GCC 12 mistakes a long literal copied into the inline storage of
  // `out` for a write past a Log (-Warray-bounds, a false positive).
  std::string text(
      "process pool: the fork server died; dead workers cannot be replaced and /readyz reports not ready");
  out.emplace_back(Log{LogLevel::critical, std::move(text)});
  return out;
}

WorkerSlots::Actions WorkerSlots::message(WorkerId worker, proto::Message message, TimePoint now) {
  Actions out;
  Slot* slot = find(worker);
  if (slot == nullptr || !listening_to(worker)) return out;
  if (std::holds_alternative<proto::Hello>(message)) {
    if (slot->state != State::starting) {
      broken(out, *slot, "second hello", now);
    } else {
      on_hello(out, *slot, now);
    }
  } else if (auto* progress = std::get_if<proto::Progress>(&message)) {
    const auto& job = slot->job;
    if (job && progress->job_id == job->job_id && job->control && job->control->wants_progress()) {
      out.emplace_back(ReportProgress{job->seq, progress->fraction, std::move(progress->text)});
    }
  } else if (auto* result = std::get_if<proto::Result>(&message)) {
    if (slot->state != State::busy || !slot->job || result->job_id != slot->job->job_id) {
      broken(out, *slot, "result for job '" + result->job_id + "' it was not running", now);
    } else {
      on_result(out, *slot, std::move(*result), now);
    }
  } else {
    broken(out, *slot, "unexpected run frame", now);
  }
  return out;
}

WorkerSlots::Actions WorkerSlots::broken_frame(WorkerId worker, std::string why, TimePoint now) {
  Actions out;
  if (Slot* slot = find(worker); slot != nullptr && listening_to(worker))
    broken(out, *slot, std::move(why), now);
  return out;
}

void WorkerSlots::broken(Actions& out, Slot& slot, std::string why, TimePoint now) {
  out.emplace_back(Log{LogLevel::warn, "worker " + std::to_string(slot.pid) + " sent a broken frame: " + why +
                                           "; killing it"});
  slot.broken = std::move(why);
  kill(out, slot, now);  // the job it holds fails when it has exited, with the reason
}

void WorkerSlots::kill(Actions& out, Slot& slot, TimePoint now) {
  const bool was_counted = slot.counted;
  slot.counted = false;
  slot.state = State::dying;
  remove_idle(slot);
  out.emplace_back(KillGroup{slot.id});
  if (was_counted) top_up(out, now, now);
  requeue_ahead(out, slot, now);
}

void WorkerSlots::retire(Actions& out, Slot& slot) {
  // Its replacement was asked for when its last job started. EOF on its socket ends it
  // cleanly; its exit is then expected.
  ++recycles_;
  slot.state = State::dying;
  remove_idle(slot);
  out.emplace_back(CloseSocket{slot.id});
}

void WorkerSlots::on_hello(Actions& out, Slot& slot, TimePoint now) {
  const bool was_backing_off = startup_failures_ > 0;
  startup_failures_ = 0;
  const std::string pid = std::to_string(slot.pid);
  if (slot.replaces_death) {
    out.emplace_back(Log{LogLevel::info, "worker " + pid + " ready, replacing a lost one (respawn " +
                                             std::to_string(microseconds_between(*slot.replaces_death, now)) +
                                             " us)"});
  } else {
    out.emplace_back(Log{LogLevel::debug, "worker " + pid + " ready (" +
                                              std::to_string(microseconds_between(slot.requested, now)) +
                                              " us after it was asked for)"});
  }
  slot.state = State::idle;
  make_idle(out, slot, now);
  if (!pool_was_up_) {
    std::size_t up = 0;
    for (const auto& [id, other] : slots_) up += other.counted && other.state != State::starting ? 1 : 0;
    if (up >= options_.workers) {
      pool_was_up_ = true;
      out.emplace_back(Log{LogLevel::info, "process pool up: " + std::to_string(up) + " workers"});
    }
  }
  // Workers start again: the rest of the pool need not wait for the back-off any more.
  if (was_backing_off) top_up(out, now, std::nullopt);
}

WorkerSlots::Actions WorkerSlots::exited(WorkerId worker, posix::ExitStatus exit, TimePoint now) {
  Actions out;
  Slot* found = find(worker);
  if (found == nullptr || shut_down_) return out;
  Slot slot = std::move(*found);
  slots_.erase(worker);
  remove_idle(slot);
  const std::string how = slot.broken ? "worker sent a broken frame: " + *slot.broken
                                      : posix::describe_worker_exit(exit, cpu_seconds_per_job_);
  const std::string pid = std::to_string(slot.pid);
  if (slot.job) {
    running_.erase(slot.job->seq);
    // (The job's record has the worker's pid from its start.)
    out.emplace_back(
        Log{LogLevel::warn, "worker " + pid + " died running job " + slot.job->job_id + ": " + how});
    out.emplace_back(FinishJob{slot.job->seq, Outcome::failure(proto::job_error::crashed, how)});
    requeue_ahead(out, slot, now);  // they never started: the next worker runs them
  } else if (slot.state != State::dying) {
    out.emplace_back(Log{LogLevel::warn, "worker " + pid + " died while " +
                                             (slot.state == State::starting ? "starting" : "idle") + ": " +
                                             how});
  }
  // A worker that never ran a job died of its start-up (a limit too tight, a broken system):
  // replacing it at once would only loop.
  if (slot.state == State::starting || (slot.state == State::idle && slot.jobs_started == 0)) {
    ++startup_failures_;
  }
  if (slot.state != State::dying || slot.broken) ++crashes_;
  if (slot.counted) top_up(out, now, now);
  return out;
}

// ---- dispatch ------------------------------------------------------------------------------

WorkerSlots::Actions WorkerSlots::submit(JobTicket ticket, TimePoint now) {
  Actions out;
  if (shut_down_) {
    out.emplace_back(FinishJob{ticket.seq, stopped_outcome(StopReason::shutdown)});
    return out;
  }
  if (!idle_.empty()) {
    Slot& slot = slots_.at(idle_.back());
    idle_.pop_back();
    run_on(out, slot, std::move(ticket), now);
    return out;
  }
  queue_.push_back(std::move(ticket));
  send_ahead(out, now);
  return out;
}

void WorkerSlots::make_idle(Actions& out, Slot& slot, TimePoint now) {
  if (options_.max_jobs_per_worker > 0 && slot.jobs_started >= options_.max_jobs_per_worker) {
    retire(out, slot);
    return;
  }
  if (!queue_.empty()) {
    JobTicket ticket = std::move(queue_.front());
    queue_.pop_front();
    run_on(out, slot, std::move(ticket), now);
    send_ahead(out, now);
    return;
  }
  slot.state = State::idle;
  idle_.push_back(slot.id);
}

void WorkerSlots::run_on(Actions& out, Slot& slot, JobTicket ticket, TimePoint now) {
  slot.state = State::busy;
  slot.job = RunningJob{ticket.seq, ticket.job_id, ticket.control};
  running_[ticket.seq] = slot.id;
  send_run(out, slot, ticket, std::move(ticket.params), now);
  out.emplace_back(ReportStarted{ticket.seq, slot.pid});
}

void WorkerSlots::send_run(Actions& out, Slot& slot, const JobTicket& ticket, nlohmann::json params,
                           TimePoint now) {
  ++slot.jobs_started;
  if (options_.max_jobs_per_worker > 0 && slot.jobs_started >= options_.max_jobs_per_worker) {
    // Its last job: ask for the replacement now, so that it is ready when this one retires.
    slot.counted = false;
    top_up(out, now, std::nullopt);
  }
  // The deadline travels as steady-clock milliseconds (a worker shares jobd's clock); 0 = none.
  const std::int64_t deadline_ms =
      ticket.deadline == TimePoint::max()
          ? 0
          : std::chrono::duration_cast<std::chrono::milliseconds>(ticket.deadline.time_since_epoch()).count();
  out.emplace_back(
      SendRun{slot.id, proto::Run{ticket.job_id, ticket.kind->name, std::move(params), deadline_ms}});
}

void WorkerSlots::on_result(Actions& out, Slot& slot, proto::Result result, TimePoint now) {
  const JobSeq seq = slot.job->seq;
  slot.job.reset();
  running_.erase(seq);
  start_next(out, slot, now);  // the next job first: the worker works while the loop answers this one
  out.emplace_back(FinishJob{seq, std::move(result.outcome)});
}

void WorkerSlots::remove_idle(const Slot& slot) { std::erase(idle_, slot.id); }

WorkerSlots::Actions WorkerSlots::stop(JobSeq seq, StopReason reason, TimePoint now) {
  Actions out;
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->seq != seq) continue;
    queue_.erase(it);
    out.emplace_back(FinishJob{seq, stopped_outcome(reason)});
    return out;
  }
  auto running = running_.find(seq);
  if (running == running_.end()) return out;
  Slot& slot = slots_.at(running->second);
  running_.erase(running);
  if (!slot.job || slot.job->seq != seq) {
    // Sent ahead, not started: it ends now; the worker runs what is before it, then is killed
    // when it reaches this one (it cannot be taken back out of the socket).
    for (AheadJob& ahead : slot.ahead) {
      if (ahead.ticket.seq != seq) continue;
      ahead.withdrawn = true;
      --ahead_;
      break;
    }
    out.emplace_back(FinishJob{seq, stopped_outcome(reason)});
    return out;
  }
  slot.job.reset();
  ++kills_;
  // A worker cannot be asked to stop a kind that does not look; it is killed with its group
  // and replaced at once, and the job ends now rather than when the kernel has reaped it.
  kill(out, slot, now);
  out.emplace_back(FinishJob{seq, stopped_outcome(reason)});
  return out;
}

WorkerSlots::Actions WorkerSlots::shutdown() {
  Actions out;
  if (shut_down_) return out;
  shut_down_ = true;
  // Normally the drain stopped everything already.
  while (!queue_.empty()) {
    const JobSeq seq = queue_.front().seq;
    queue_.pop_front();
    out.emplace_back(FinishJob{seq, stopped_outcome(StopReason::shutdown)});
  }
  for (auto& [id, slot] : slots_) {
    if (slot.job) {
      out.emplace_back(KillGroup{id});
      out.emplace_back(FinishJob{slot.job->seq, stopped_outcome(StopReason::shutdown)});
      slot.job.reset();
      for (const AheadJob& ahead : slot.ahead) {
        if (!ahead.withdrawn)
          out.emplace_back(FinishJob{ahead.ticket.seq, stopped_outcome(StopReason::shutdown)});
      }
      slot.ahead.clear();
    } else {
      out.emplace_back(CloseSocket{id});  // it exits at EOF
    }
  }
  running_.clear();
  idle_.clear();
  ahead_ = 0;
  return out;
}

ExecutorStats WorkerSlots::stats() const {
  // running_ holds the jobs sent ahead too; they count as waiting.
  return {queue_.size() + ahead_,
          running_.size() - ahead_,
          options_.queue_depth + options_.workers,
          counted_workers(),
          {{"crash", crashes_}, {"kill", kills_}, {"recycle", recycles_}}};
}

std::vector<pid_t> WorkerSlots::worker_pids() const {
  std::vector<pid_t> pids;
  for (const auto& [id, slot] : slots_) {
    if (slot.counted) pids.push_back(slot.pid);
  }
  return pids;
}

}  // namespace jobd::exec
