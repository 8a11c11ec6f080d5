// The replica's share of the work: claim loops, adoption, the fenced finish of each attempt,
// lease renewal, and the reclaim and promote timers every replica runs.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "cluster/cluster.hpp"
#include "jobs/job_rows.hpp"
#include "jobs/retry_policy.hpp"
#include "jobs/scheduler.hpp"
#include "kinds/sleep_for.hpp"

namespace jobd::cluster {

namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
using kinds::sleep_for;

namespace {
// After a failed claim (Redis away): wait this long before the next one.
constexpr auto kClaimRetry = 250ms;
// A full executor's claim loop looks again at least this often (a finished job wakes it first).
constexpr auto kSlotPoll = 100ms;
// A finish that could not be written (Redis away) is tried again this often.
constexpr auto kFinishRetry = 250ms;

std::size_t index(proto::Executor executor) { return static_cast<std::size_t>(executor); }
}  // namespace

std::size_t Cluster::free_slots(proto::Executor executor) const {
  const exec::Executor* local = scheduler_.executor(executor);
  if (local == nullptr) return 0;
  // Workers plus a bounded prefetch, not queue depth: a job claimed here should start here
  // soon, not wait in a long local queue while another replica has room; the prefetch keeps the
  // workers fed while the next claim's round trip is under way (prefetched jobs are `running`
  // in Redis and held_, so their leases are renewed). The loop executor has no workers: its
  // capacity, no prefetch.
  const exec::ExecutorStats stats = local->stats();
  std::size_t slots = stats.capacity;
  if (stats.workers > 0) {
    slots = stats.workers + options_.prefetch.value_or(stats.workers);
    if (stats.capacity > 0) slots = std::min(slots, stats.capacity);
  }
  const std::size_t active = active_[index(executor)];
  return slots > active ? slots - active : 0;
}

asio::awaitable<void> Cluster::claim_loop(proto::Executor executor) {
  store::RedisJobs& claimer = *claimers_[index(executor)];
  asio::steady_timer& slot_freed = *slot_freed_[index(executor)];
  while (!stopped_) {
    const std::size_t free = scheduler_.draining() ? 0 : free_slots(executor);
    if (free == 0) {
      slot_freed.expires_after(kSlotPoll);
      co_await slot_freed.async_wait(use_tuple);
      continue;
    }
    auto claimed =
        co_await claimer.claim(executor, options_.replica_id, free, options_.claim_block, now_ms());
    if (stopped_) co_return;
    if (!claimed.ok()) {
      if (!claims_failing_)
        spdlog::warn("claiming {} jobs failed: {}", proto::to_string(executor), claimed.detail);
      claims_failing_ = true;
      co_await sleep_for(kClaimRetry);
      continue;
    }
    if (claims_failing_) spdlog::info("claiming {} jobs again", proto::to_string(executor));
    claims_failing_ = false;
    stats_.claimed += claimed.value.size();
    for (auto& job : claimed.value) adopt(std::move(job));
  }
}

void Cluster::adopt(store::RedisJob job) {
  store::JobRow& row = job.row;
  jobs::JobTable& table = scheduler_.table();
  if (const jobs::Job* local = table.get(row.id)) {
    if (!proto::is_final(local->state)) {
      // An older attempt of it still ends here (our lease was lost): adopted once it has.
      deferred_.insert_or_assign(row.id, std::move(job));
      return;
    }
    table.forget(local->seq);
  }
  const kinds::Kind* kind = kinds_.find(row.kind);
  Held held{row.seq, row.attempt, row.executor, false};
  held_.insert_or_assign(row.id, held);
  ++active_[index(row.executor)];
  if (kind == nullptr) {
    // Replicas run different kinds (a config not rolled out everywhere): fail it, as recovery does.
    held_[row.id].ending = true;
    store::AttemptEnd end;
    end.state = proto::JobState::failed;
    end.error_type = std::string(proto::job_error::internal);
    end.error_message = "kind '" + row.kind + "' is not registered on replica " + options_.replica_id;
    --active_[index(row.executor)];
    asio::co_spawn(loop_, write_end(row.id, held, std::move(end)), asio::detached);
    return;
  }
  watch_held(scheduler_.adopt(row, *kind));
}

void Cluster::on_attempt_end(const jobs::Job& job, bool retry) {
  auto it = held_.find(job.id);
  if (it == held_.end() || it->second.ending) return;
  Held& held = it->second;
  held.ending = true;
  --active_[index(held.executor)];
  slot_freed_[index(held.executor)]->cancel();
  unwatch_held(held);
  const bool asked_to_stop = stopping_.erase(job.id) == 1;
  // Stopped by this replica's shutdown (the drain timeout), not by a DELETE: handed over rather
  // than cancelled; its lease runs out and another replica reclaims it (attempts policy).
  const bool handed_over = scheduler_.draining() && job.state == proto::JobState::cancelled && !asked_to_stop;
  if (lost_.erase(job.id) == 1 || handed_over) {
    // Another replica owns (or will own) the job: nothing of this attempt is written.
    if (auto pending = pending_events_.find(job.id); pending != pending_events_.end()) {
      pending_event_count_ -= std::min(pending_event_count_, pending->second.events.size());
      pending_events_.erase(pending);
    }
    const jobs::JobSeq seq = held.seq;
    held_.erase(it);
    asio::post(loop_, [this, seq, id = job.id] {
      scheduler_.table().forget(seq);
      adopt_deferred(id);
    });
    return;
  }
  store::AttemptEnd end;
  end.state = job.state;
  end.result_json = job.result;
  end.details_json = job.details;
  if (job.error) {
    end.error_type = job.error->type;
    end.error_message = job.error->message;
  }
  if (retry) {
    // The retry policy's backoff, as the local scheduler would have waited.
    static thread_local std::mt19937_64 random{std::random_device{}()};
    const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(random);
    const auto delay = jobs::backoff_delay(job.retry_delay, job.attempt, options_.retry_max_delay, unit);
    end.retry_at_ms = now_ms() + delay.count();
  }
  // Its last output goes first: the same connection, so Redis runs the append before the finish.
  flush_events();
  asio::co_spawn(loop_, write_end(job.id, held, std::move(end)), asio::detached);
}

asio::awaitable<void> Cluster::write_end(std::string id, Held held, store::AttemptEnd end) {
  // Tried until Redis takes it: the finish is fenced, so a late one after another replica took
  // the attempt over is refused (stale), never written over the newer attempt. Its lease is
  // still renewed meanwhile (held_), so a short outage does not cost the attempt.
  bool logged = false;
  while (!stopped_) {
    auto written = co_await jobs_->finish(id, options_.replica_id, held.attempt, end, now_ms());
    if (written.ok()) {
      if (written.value != store::FinishResult::accepted) {
        ++stats_.finish_stale;
        spdlog::info("job {} attempt {}: finish not written (another replica took it over)", id,
                     held.attempt);
      } else if (logged) {
        spdlog::info("job {} attempt {}: finish written after Redis came back", id, held.attempt);
      }
      break;
    }
    if (!logged)
      spdlog::warn("job {} attempt {}: finish not written yet: {}", id, held.attempt, written.detail);
    logged = true;
    co_await sleep_for(kFinishRetry);
  }
  if (stopped_) co_return;
  // Reads of a finished job go to Redis: the local copy is no longer needed.
  if (auto it = held_.find(id); it != held_.end() && it->second.attempt == held.attempt) held_.erase(it);
  if (const jobs::Job* local = scheduler_.table().get(id); local && proto::is_final(local->state)) {
    scheduler_.table().forget(local->seq);
  }
  adopt_deferred(id);
}

void Cluster::adopt_deferred(const std::string& id) {
  auto next = deferred_.find(id);
  if (next == deferred_.end()) return;
  store::RedisJob job = std::move(next->second);
  deferred_.erase(next);
  adopt(std::move(job));
}

void Cluster::stop_local(const std::string& id) {
  // The scheduler stops it as cancelled (its executor reports when it is gone) and then calls
  // on_attempt_end, which writes the cancel or, for a lost lease, nothing.
  stopping_.insert(id);
  const auto stopped = scheduler_.cancel(id);
  if (std::holds_alternative<proto::Problem>(stopped)) stopping_.erase(id);  // not running here
}

asio::awaitable<void> Cluster::renew_loop() {
  const auto every = std::max<std::chrono::milliseconds>(options_.lease / 3, 10ms);
  while (!stopped_) {
    co_await sleep_for(every);
    co_await renew_once();
  }
}

asio::awaitable<void> Cluster::renew_once() {
  std::vector<store::Lease> leases;
  for (const auto& [id, held] : held_) leases.push_back({id, held.attempt});
  for (const auto& [id, job] : deferred_) leases.push_back({id, job.row.attempt});
  if (leases.empty()) co_return;
  const std::size_t asked = leases.size();
  auto renewed = co_await jobs_->renew(options_.replica_id, std::move(leases), now_ms());
  if (!renewed.ok()) {
    spdlog::warn("renewing {} leases failed: {}", asked, renewed.detail);
    co_return;
  }
  stats_.leases_lost += renewed.value.lost.size();
  stats_.leases_renewed += asked - std::min(asked, renewed.value.lost.size());
  for (const auto& id : renewed.value.lost) {
    deferred_.erase(id);
    auto it = held_.find(id);
    if (it == held_.end() || it->second.ending) continue;
    spdlog::warn("job {} attempt {}: lease lost (reclaimed by another replica): stopping it here", id,
                 it->second.attempt);
    lost_.insert(id);
    stop_local(id);
  }
  for (const auto& id : renewed.value.cancelled) {
    if (held_.contains(id)) stop_local(id);
  }
}

asio::awaitable<void> Cluster::reclaim_loop() {
  const auto every = std::max<std::chrono::milliseconds>(options_.lease / 2, 50ms);
  while (!stopped_) {
    co_await sleep_for(every);
    // Our own leases first: after an outage longer than the lease, every entry looks idle, and
    // this replica must not take back the attempts it still runs.
    co_await renew_once();
    for (auto executor : proto::kAllExecutors) {
      auto reclaimed = co_await jobs_->reclaim(executor, options_.replica_id, options_.lease, now_ms());
      if (!reclaimed.ok()) break;  // Redis away: the next round
      const auto& got = reclaimed.value;
      const std::size_t total =
          got.requeued.size() + got.failed.size() + got.cancelled.size() + got.redelivered.size();
      stats_.reclaimed += total;
      if (total > 0) {
        spdlog::info(
            "reclaimed {} {} attempts of lost replicas: {} requeued, {} failed, {} cancelled, {} redelivered",
            total, proto::to_string(executor), got.requeued.size(), got.failed.size(), got.cancelled.size(),
            got.redelivered.size());
      }
    }
  }
}

asio::awaitable<void> Cluster::promote_loop() {
  while (!stopped_) {
    co_await sleep_for(options_.promote_every);
    (void)co_await jobs_->promote_due(now_ms());
  }
}

}  // namespace jobd::cluster
