// RedisJobs: the job model several jobd replicas share on Redis (issue 14), as awaitable
// operations over the Redis client. Not yet wired into the job table: these are the primitives
// a Redis JobStore and the scheduler's claim loop will be built from (DESIGN §2 "Redis store").
//
//   RedisJobs jobs(commands, claims, {.prefix = "jobd:"});
//   auto check = co_await jobs.check_server();           // refuse or warn before serving
//   auto sub = co_await jobs.submit(row, now);             // 202 after this
//   auto got = co_await jobs.claim(Executor::thread, "r1", free_slots, 1s, now);
//   auto kept = co_await jobs.renew("r1", leases, now);   // every lease/3
//   auto done = co_await jobs.finish(id, "r1", attempt, end, now);   // fenced
//   auto back = co_await jobs.reclaim(Executor::thread, "r1", lease, now);  // every replica
//
// Every state change is one Lua script (redis_job_scripts.cpp), so replicas never see half of
// one; reads are plain commands. At-least-once: an attempt is a stream entry delivered to one
// consumer, pending until its finish acknowledges it; the stream entry's idle time in the
// group is the lease, on Redis's clock alone, so replicas' clocks never decide who owns a job.
//
// Must never: block the loop, or write a finish for an attempt the job has moved past.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "store/redis/connection.hpp"
#include "store/redis/script.hpp"
#include "store/redis_jobs_types.hpp"

namespace jobd::store {

class RedisJobs {
 public:
  // `commands` for everything but claims; `claims` for the blocking XREADGROUP alone (a block
  // would hold up every command pipelined behind it). Both must outlive this object.
  RedisJobs(redis::RedisConnection& commands, redis::RedisConnection& claims, RedisJobsOptions options = {});

  // Start-up: Redis 7 or newer, maxmemory-policy noeviction (else refuse: an evicted hash or
  // stream is a lost job), AOF on (else a warning: jobs since the last snapshot die with Redis).
  boost::asio::awaitable<RedisResult<ServerCheck>> check_server();
  // Start-up: each executor's stream and group (XGROUP CREATE ... MKSTREAM; BUSYGROUP is fine).
  boost::asio::awaitable<RedisResult<bool>> create_groups();

  // Creates the job from row's fixed fields (id, kind, executor, params, timeout, attempts
  // policy, run_at, created_at, idempotency_key); seq comes from Redis. A known idempotency key
  // returns the first job's id and seq instead. Due now: on its executor's stream; run_at
  // later than created_at: in the delayed set until promote_due.
  boost::asio::awaitable<RedisResult<Submitted>> submit(JobRow row);

  // Waits up to `block` (0: not at all) for at most `count` queued attempts of `executor`,
  // takes them for `consumer` and marks them running (owner, attempt, started_at = now_ms plus
  // the time the read blocked).
  boost::asio::awaitable<RedisResult<std::vector<RedisJob>>> claim(proto::Executor executor,
                                                                   std::string consumer, std::size_t count,
                                                                   std::chrono::milliseconds block,
                                                                   std::int64_t now_ms);
  // Extends the leases `consumer` still holds; says which it lost and which were asked to cancel.
  boost::asio::awaitable<RedisResult<Renewal>> renew(std::string consumer, std::vector<Lease> leases,
                                                     std::int64_t now_ms);
  // Fenced: written only while the job is running as `consumer`'s `attempt`; stale otherwise.
  boost::asio::awaitable<RedisResult<FinishResult>> finish(std::string id, std::string consumer,
                                                           std::uint32_t attempt, AttemptEnd end,
                                                           std::int64_t now_ms);
  // Takes over attempts of `executor` idle (not renewed) for `min_idle` and ends them as
  // interrupted (requeued with backoff, or failed when no attempt is left). Any replica may run it.
  boost::asio::awaitable<RedisResult<Reclaimed>> reclaim(proto::Executor executor, std::string consumer,
                                                         std::chrono::milliseconds min_idle,
                                                         std::int64_t now_ms, std::size_t count = 100);
  // Moves delayed jobs due by `now_ms` to their streams; returns how many. Any replica may run it.
  boost::asio::awaitable<RedisResult<std::size_t>> promote_due(std::int64_t now_ms, std::size_t limit = 1000);
  // Queued: cancelled at once. Running: flagged, and the owner told on its control channel.
  boost::asio::awaitable<RedisResult<Cancelled>> cancel(std::string id, std::int64_t now_ms);

  boost::asio::awaitable<RedisResult<std::optional<RedisJob>>> get(std::string id);
  // Jobs with seq > after_seq, in seq order (the list cursor).
  boost::asio::awaitable<RedisResult<std::vector<RedisJob>>> list(std::uint64_t after_seq, std::size_t limit);

  // A job's event stream (redis_events.cpp). Appends the events of attempts `consumer` runs
  // (fenced: those of an attempt it lost are dropped) and tells every replica on `jevents`.
  boost::asio::awaitable<RedisResult<std::size_t>> append_events(std::string consumer,
                                                                 std::vector<EventAppend> batch);
  // The job's hash and up to `count` of its events after `after`.
  boost::asio::awaitable<RedisResult<EventPage>> read_events(std::string id, std::uint64_t after,
                                                             std::size_t count);
  // The jobs of `ids` that still exist, in order.
  boost::asio::awaitable<RedisResult<std::vector<RedisJob>>> job_hashes(std::vector<std::string> ids);

  // Names, for the wiring and the tests.
  std::string job_key(std::string_view id) const;
  std::string stream_key(proto::Executor executor) const;
  std::string delayed_key() const { return options_.prefix + "delayed"; }
  std::string events_channel() const { return options_.prefix + "events"; }       // every final/requeue
  std::string control_channel(std::string_view consumer) const;                   // cancels for a consumer
  std::string job_events_channel() const { return options_.prefix + "jevents"; }  // ids that got events
  std::string event_key(std::string_view id) const { return options_.prefix + "ev:" + std::string(id); }
  const RedisJobsOptions& options() const { return options_; }

 private:
  boost::asio::awaitable<std::tuple<std::error_code, redis::Reply>> run(redis::RedisScript& script,
                                                                        std::vector<std::string> args);

  redis::RedisConnection& commands_;
  redis::RedisConnection& claims_;
  RedisJobsOptions options_;
  redis::RedisScript submit_, start_, renew_, finish_, reclaim_, promote_, cancel_, list_;
  redis::RedisScript append_events_, read_events_, job_hashes_;
  std::mt19937_64 random_;  // the reclaim backoff's jitter
};

}  // namespace jobd::store
