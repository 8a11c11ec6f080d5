// The values the Redis job model (redis_jobs.hpp) takes and returns, and its error codes.
//
// Errors are values, as in the Redis client: a Redis-level failure keeps its RedisError code
// (unavailable: not sent; connection_lost/timeout: outcome unknown), and what Redis answered
// but the model cannot use is RedisJobsError.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "jobd/proto/job.hpp"
#include "store/job_row.hpp"

namespace jobd::store {

struct RedisJobsOptions {
  std::string prefix = "jobd:";  // every key and channel starts with it
  // How long a claimed attempt is kept without a renewal before any replica may reclaim it
  // (reclaim's min_idle; renew every lease/3).
  std::chrono::milliseconds lease{30000};
  // The cap of a reclaimed attempt's retry backoff (--retry-max-delay).
  std::chrono::milliseconds retry_max_delay{std::chrono::minutes(10)};
  // How long a final job's hash and idempotency key stay (--retention): PEXPIRE when it ends.
  std::chrono::milliseconds retention{std::chrono::hours(1)};
  // Events kept per job in its event stream (XADD MAXLEN ~; --event-history).
  std::size_t events_max = 1024;
};

enum class RedisJobsError {
  script_error = 1,  // Redis answered the script with an error reply (detail says which)
  unexpected_reply,  // a reply of a shape the model does not know
};
const std::error_category& redis_jobs_category() noexcept;
std::error_code make_error_code(RedisJobsError e) noexcept;

// An operation's result: `value` is meaningful only when !error; `detail` is one line for logs.
template <typename T>
struct RedisResult {
  std::error_code error;
  std::string detail;
  T value{};
  bool ok() const { return !error; }
};

// A job as its hash holds it: the store's row, and what only the shared queue knows.
struct RedisJob {
  JobRow row;
  std::string owner;                // the consumer running it (or that ran it last)
  std::int64_t lease_until_ms = 0;  // informative: reclaim measures the stream entry's idle time
  bool cancel_requested = false;
};

struct Submitted {
  std::string id;
  std::uint64_t seq = 0;
  bool replayed = false;  // the idempotency key was known: id and seq are the first submit's
};

// An attempt a consumer holds: what renew and finish are fenced on.
struct Lease {
  std::string id;
  std::uint32_t attempt = 0;
};

struct Renewal {
  std::vector<std::string> lost;       // no longer this consumer's attempt: stop, do not finish
  std::vector<std::string> cancelled;  // kept, but asked to cancel (the flag, seen at renewal)
};

// How an attempt ended, for finish.
struct AttemptEnd {
  proto::JobState state = proto::JobState::succeeded;  // final state, unless retried
  std::string result_json;
  std::string error_type;
  std::string error_message;
  std::string details_json;
  // Set: attempts remain (the caller's retry policy said so), the job goes back to queued for
  // attempt+1, due then. Ignored, and `state` written, when no attempt is left.
  std::optional<std::int64_t> retry_at_ms;
};

enum class FinishResult { accepted, stale, not_found };

struct Reclaimed {
  std::vector<std::string> requeued;     // attempts left: queued again (attempt+1, backoff)
  std::vector<std::string> failed;       // none left: failed as interrupted
  std::vector<std::string> cancelled;    // asked to cancel before its replica went away
  std::vector<std::string> redelivered;  // claimed but never started: queued again, same attempt
};

enum class CancelResult { cancelled, requested, already_final, not_found };
struct Cancelled {
  CancelResult result = CancelResult::not_found;
  std::string owner;                     // requested: the consumer told on its control channel
  std::optional<proto::JobState> state;  // already_final: which
};

// One entry of a job's event stream: a state change (written by the scripts that make it), or
// a progress report or output line of an attempt (append_events). `id` is the SSE id.
struct StoredEvent {
  std::uint64_t id = 0;
  std::string type;  // state | progress | stdout | stderr (jobs::to_string(EventType))
  std::string state;
  std::uint32_t attempt = 0;
  std::int64_t at_ms = 0;
  double fraction = 0.0;
  std::string text;
};
// The job (nullopt: no such job) and its events after the asked id, oldest first.
struct EventPage {
  std::optional<RedisJob> job;
  std::vector<StoredEvent> events;
};
// Progress and output events of one attempt, to append (type, fraction, text each).
struct EventAppend {
  std::string id;
  std::uint32_t attempt = 0;
  struct Item {
    std::string type;
    std::string fraction;
    std::string text;
  };
  std::vector<Item> events;
};

// What check_server found. !ok: refuse to start, with `refusal`; warnings: log them loudly.
struct ServerCheck {
  bool ok = true;
  std::string refusal;
  std::vector<std::string> warnings;
  std::string version;
};

}  // namespace jobd::store

template <>
struct std::is_error_code_enum<jobd::store::RedisJobsError> : std::true_type {};
