// Cluster: jobd as one of several replicas sharing their jobs on Redis (--store redis://...,
// issue 14; DESIGN §2 "Redis store"). The job model is store/redis_jobs.hpp; this is its wiring:
//
//   submit       the API validates as ever (Scheduler::admit), Redis creates the job (and decides
//                idempotency for every replica); the 202 goes out after Redis answered
//   claim loops  one per executor: take at most its free slots plus a bounded prefetch
//                (--redis-prefetch; XREADGROUP BLOCK ~1 s on a connection of its own), adopt
//                each job into the local JobTable, run it here
//   attempt end  Scheduler::on_attempt_end: a fenced RedisJobs::finish (retry_at from the retry
//                policy when it allows one: the local scheduler never retries), then the job is
//                forgotten locally (reads of finished jobs go to Redis)
//   timers       renew held leases every lease/3 (lost: stop the local attempt, write nothing;
//                cancel flag: stop it as cancelled); reclaim expired leases and promote due
//                delayed jobs, on every replica
//   events       a job's event stream in Redis (state changes by the scripts; progress and
//                output of the attempts run here, batched every 50 ms): SSE on any replica
//                replays it and follows it, woken by `jevents`/`events` (cluster/job_events.cpp);
//                /v1/events shows every replica's state changes from the `events` channel
//   reads        GET, ?wait= (woken by the `events` channel, polled every 500 ms too, so a lost
//                message cannot hang it), DELETE (the owner hears `ctl:{consumer}`; the renew's
//                cancel flag covers a lost message), list newest first
// Redis away: every operation answers store-unavailable (503 + Retry-After), never a wrong 404.
//
// The JobTable stays the only writer of local job state: this class writes only through the
// Scheduler (adopt, cancel) and JobTable::forget. Loop thread only.
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "jobd/proto/job_spec.hpp"
#include "jobd/proto/problem.hpp"
#include "jobs/job_table.hpp"
#include "jobs/record.hpp"
#include "kinds/kind.hpp"
#include "store/redis/connection.hpp"
#include "store/redis/script.hpp"
#include "store/redis/subscriber.hpp"
#include "store/redis_jobs.hpp"

namespace jobd::jobs {
class Scheduler;
}

namespace jobd::cluster {

struct ClusterOptions {
  std::string replica_id;  // the consumer name in every executor's group
  std::chrono::milliseconds lease{30000};
  std::chrono::milliseconds retry_max_delay{std::chrono::minutes(10)};
  std::chrono::milliseconds retention{std::chrono::hours(1)};  // final jobs leave Redis after it
  std::size_t event_history = 1024;  // events kept in a job's event stream (--event-history)
  // Jobs claimed beyond the free workers, waiting in the local queue (nullopt: as many as the
  // executor has workers; 0: only free workers).
  std::optional<std::size_t> prefetch;
  std::chrono::milliseconds claim_block{1000};     // XREADGROUP BLOCK
  std::chrono::milliseconds wait_poll{500};        // ?wait= reads Redis at least this often
  std::chrono::milliseconds promote_every{200};    // delayed jobs and retries due
  std::chrono::milliseconds start_timeout{10000};  // connecting at start-up
  unsigned retry_after_s = 1;
};

// What a submit answered: the record and whether the idempotency key named an earlier job.
struct SubmitAnswer {
  std::string id;
  std::string record;
  bool final = false;
  bool replayed = false;
};
// A record and whether its job is final.
struct RecordAnswer {
  std::string record;
  bool final = false;
};
// Counters since start, for /metrics.
struct ClusterStats {
  std::uint64_t claimed = 0;           // attempts claimed here
  std::uint64_t leases_renewed = 0;    // leases extended by a renewal
  std::uint64_t leases_lost = 0;       // leases another replica took (the attempt was stopped here)
  std::uint64_t reclaimed = 0;         // attempts of lost replicas this replica took back
  std::uint64_t finish_stale = 0;      // finishes Redis refused: the attempt had moved on
  store::redis::RedisHealth commands;  // the commands connection: round trip, reconnects
};

// A page of one job's event stream, in the local table's types.
struct JobEventPage {
  bool found = false;                  // false: no such job (never was, or gone past its retention)
  jobs::Job job;                       // as it is now (a state event shows this record, with its own state)
  std::vector<jobs::JobEvent> events;  // after the asked id, oldest first (ids may skip: trimmed)
  bool ended = false;                  // the job is final and the page reads its stream to the end
};
using FollowId = std::uint64_t;
using EventPageHandler = std::function<void(const JobEventPage&)>;
using StateHandler = std::function<void(const jobs::Job&, const jobs::JobEvent&)>;

struct ListQuery {
  std::optional<proto::JobState> state;
  std::optional<std::string> kind;
  std::size_t limit = 50;
  std::optional<std::uint64_t> before;  // cursor: seqs below it
  jobs::RecordView view;
};

class Cluster {
 public:
  Cluster(boost::asio::any_io_executor loop, jobs::Scheduler& scheduler, const kinds::KindRegistry& kinds,
          ClusterOptions options, store::redis::RedisOptions redis);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Start-up, before jobd listens: runs `loop` until connected, the server checked (warnings
  // logged), the groups made and the channels subscribed; then starts the loops. Empty when
  // ready, else one line saying why jobd must not start.
  std::string start(boost::asio::io_context& loop);
  void stop();

  // The API (cluster/requests.cpp).
  boost::asio::awaitable<std::variant<SubmitAnswer, proto::Problem>> submit(proto::JobSpec spec);
  boost::asio::awaitable<std::variant<RecordAnswer, proto::Problem>> get(std::string id);
  // The final record, or nullopt when `until` passed first (or Redis is away: a GET says so).
  boost::asio::awaitable<std::optional<std::string>> wait_final(std::string id,
                                                                std::chrono::steady_clock::time_point until);
  boost::asio::awaitable<std::variant<RecordAnswer, proto::Problem>> cancel(std::string id);
  // A page of GET /v1/jobs, as the body.
  boost::asio::awaitable<std::variant<std::string, proto::Problem>> list(ListQuery query);
  // A job's event stream (cluster/job_events.cpp): its events after `after`, or a problem
  // (unknown job: 404; Redis away: 503).
  boost::asio::awaitable<std::variant<JobEventPage, proto::Problem>> read_events(std::string id,
                                                                                 std::uint64_t after);
  // Follows a job's stream from `after` on: `handler` gets each page read after a wake-up (events
  // it has seen may come again; it skips them). All followers of a job share one read.
  FollowId follow(const std::string& id, std::uint64_t after, EventPageHandler handler);
  void unfollow(const std::string& id, FollowId follow);
  std::size_t followers() const { return followers_; }
  // Every replica's state changes (the `events` channel), read while `wanted` says so.
  void on_states(StateHandler handler, std::function<bool()> wanted);
  // Attempts ended here whose finish is not yet written to Redis (the drain waits for them).
  std::size_t finishing() const;
  ClusterStats stats() const;
  // For /readyz and /healthz: the commands connection is up.
  store::StoreHealth health() const;

 private:
  // The wall clock as the job model stamps it (Unix ms).
  static std::int64_t now_ms();

  struct Held {
    jobs::JobSeq seq = 0;
    std::uint32_t attempt = 0;
    proto::Executor executor = proto::Executor::loop;
    bool ending = false;                 // ended here, its finish being written (the lease is still renewed)
    std::optional<jobs::WatchId> watch;  // its progress and output, for its event stream
  };
  struct FollowGroup {
    std::unordered_map<FollowId, EventPageHandler> handlers;
    std::uint64_t cursor = 0;  // the last event id read for them
    bool reading = false;
    bool again = false;  // woken while reading
    bool heard = true;   // a message woke it since the last poll (or it is new): the poll skips it
  };
  // Job ids looked up by a view into a message (transparent hash and equality): no copy.
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const noexcept { return std::hash<std::string_view>{}(id); }
  };
  struct StateChange {
    std::string id;
    proto::JobState state = proto::JobState::queued;
    std::int64_t at_ms = 0;
  };
  struct Waiter {
    boost::asio::steady_timer timer;
    bool woken = false;  // a message came while it was not waiting
  };
  // cluster/runner.cpp
  boost::asio::awaitable<void> claim_loop(proto::Executor executor);
  void adopt(store::RedisJob job);
  void adopt_deferred(const std::string& id);
  void on_attempt_end(const jobs::Job& job, bool retry);
  boost::asio::awaitable<void> write_end(std::string id, Held held, store::AttemptEnd end);
  boost::asio::awaitable<void> renew_loop();
  boost::asio::awaitable<void> renew_once();
  boost::asio::awaitable<void> reclaim_loop();
  boost::asio::awaitable<void> promote_loop();
  void stop_local(const std::string& id);
  // cluster/job_events.cpp
  void watch_held(const jobs::Job& job);
  void unwatch_held(Held& held);
  void note_event(const jobs::Job& job, const jobs::JobEvent& event);
  void flush_events();
  boost::asio::awaitable<void> write_events(std::vector<store::EventAppend> batch);
  // A message named the job: its followers read on (and the poll leaves them alone a while).
  void wake_followers(std::string_view id);
  void read_group(const std::string& id, FollowGroup& group);
  boost::asio::awaitable<void> read_followed(std::string id);
  boost::asio::awaitable<void> follow_poll_loop();
  void note_state(const std::string& payload);
  boost::asio::awaitable<void> read_states();
  JobEventPage page_of(store::EventPage& stored, std::size_t asked);
  std::size_t free_slots(proto::Executor executor) const;
  // cluster/cluster.cpp
  boost::asio::awaitable<std::string> connect();
  void on_message(const store::redis::PubSubMessage& message);
  proto::Problem unavailable(std::string_view what, const std::string& detail) const;
  const kinds::Kind& kind_named(const std::string& name);

  boost::asio::any_io_executor loop_;
  jobs::Scheduler& scheduler_;
  const kinds::KindRegistry& kinds_;
  ClusterOptions options_;
  store::redis::RedisOptions redis_options_;
  std::unique_ptr<store::redis::RedisConnection> commands_;
  std::array<std::unique_ptr<store::redis::RedisConnection>, 4> claims_;  // by proto::Executor
  std::unique_ptr<store::redis::RedisSubscriber> subscriber_;
  std::unique_ptr<store::RedisJobs> jobs_;                     // every command but claims
  std::unique_ptr<store::redis::RedisScript> list_newest_;     // a page of jobs, newest first
  std::array<std::unique_ptr<store::RedisJobs>, 4> claimers_;  // claims, one connection each
  std::unordered_map<std::string, Held> held_;                 // adopted, attempt not yet written
  std::unordered_set<std::string> lost_;                       // held, lease lost: write nothing
  std::unordered_set<std::string> stopping_;                   // held, stopped by a cancel or lost lease
  std::unordered_map<std::string, store::RedisJob> deferred_;  // claimed while an older attempt ends here
  std::array<std::size_t, 4> active_{};                        // held_ by executor
  std::array<std::unique_ptr<boost::asio::steady_timer>, 4> slot_freed_;  // wakes a full claim loop
  std::unordered_multimap<std::string, Waiter*> waiters_;                 // ?wait= by id
  std::deque<kinds::Kind> unknown_kinds_;  // stand-ins for records of unregistered kinds
  // Events: those of attempts run here, waiting for the next append (every 50 ms).
  std::unordered_map<std::string, store::EventAppend> pending_events_;
  std::size_t pending_event_count_ = 0;
  std::unique_ptr<boost::asio::steady_timer> events_flush_;
  bool events_flush_armed_ = false;
  bool appends_failing_ = false;
  std::unordered_map<std::string, FollowGroup, IdHash, std::equal_to<>> follows_;  // SSE followers by job id
  FollowId next_follow_ = 1;
  std::size_t followers_ = 0;
  StateHandler state_handler_;
  std::function<bool()> states_wanted_;
  std::vector<StateChange> states_pending_;
  bool states_reading_ = false;
  bool stopped_ = false;
  bool claims_failing_ = false;
  ClusterStats stats_;
};

}  // namespace jobd::cluster
