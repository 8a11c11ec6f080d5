// The Lua text of the Redis job model's scripts (DESIGN §2 "Redis store"). Each script is what
// must happen atomically: Redis runs a script to its end before any other command, so two
// replicas can never interleave inside one. Every script begins with kPrelude; ARGV[1] is the
// key prefix, so keys are derived inside the script (one Redis or a primary with replicas;
// not Redis Cluster, whose scripts must declare their keys).
#include "store/redis_job_scripts.hpp"

#include <algorithm>
#include <string_view>

namespace jobd::store::redis_scripts {

namespace {

// Shared helpers. Times are milliseconds since the epoch, passed in by the caller (the table's
// clock, as for SQLite); only the lease uses Redis's own clock (the stream's idle time).
constexpr const char* kPrelude = R"lua(
local P = ARGV[1]
local GROUP = 'jobd'
local function job_key(id) return P .. 'job:' .. id end
local function stream_key(executor) return P .. 'q:' .. executor end
-- A new entry for the job's current attempt on its executor's stream; the group is made with
-- the stream, so a stream never exists without it.
local function enqueue(id, executor, attempt)
  local stream = stream_key(executor)
  if redis.call('EXISTS', stream) == 0 then
    redis.call('XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM')
  end
  local entry = redis.call('XADD', stream, '*', 'id', id, 'attempt', attempt)
  redis.call('HSET', job_key(id), 'entry', entry)
  return entry
end
-- An entry leaves the stream once it is acknowledged: the stream holds queued and running
-- attempts only, and needs no trimming.
local function consume(executor, entry)
  if entry then
    local stream = stream_key(executor)
    redis.call('XACK', stream, GROUP, entry)
    redis.call('XDEL', stream, entry)
  end
end
-- The job's event stream, replayed by SSE on any replica: entry ids 0-1, 0-2, ... (0-*), so
-- an SSE id is an integer as on one replica. Capped (--event-history); it expires with the hash.
local EVENTS_MAX = @EVENTS_MAX@
local function event_key(id) return P .. 'ev:' .. id end
local function add_event(id, ...)
  redis.call('XADD', event_key(id), 'MAXLEN', '~', EVENTS_MAX, '0-*', ...)
end
-- Every state change: on the job's stream, then on `events` (a wake-up for every replica).
local function publish(id, seq, state, attempt, at)
  add_event(id, 't', 'state', 's', state, 'a', attempt, 'at', at)
  if state ~= 'queued' and state ~= 'running' then
    local ttl = redis.call('PTTL', job_key(id))  -- final: retire() set it
    if ttl > 0 then redis.call('PEXPIRE', event_key(id), ttl) end
  end
  redis.call('PUBLISH', P .. 'events', cjson.encode({id = id, seq = tonumber(seq), state = state,
    attempt = tonumber(attempt), at = tonumber(at)}))
end
-- 2026-11-28T13:47:36.123Z from milliseconds (days_to_civil, H. Hinnant), as the table writes.
local function rfc3339(ms)
  local s = math.floor(ms / 1000)
  local days = math.floor(s / 86400)
  local rem = s - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d, math.floor(rem / 3600),
    math.floor(rem % 3600 / 60), rem % 60, ms % 1000)
end
-- Appends one failed attempt to the job's `attempts` array, in the table's format.
local function append_attempt(key, attempt, etype, message, started_at, now)
  local entry = '{"attempt":' .. attempt .. ',"type":' .. cjson.encode(etype) .. ',"message":' ..
    cjson.encode(message)
  if started_at then entry = entry .. ',"started_at":"' .. rfc3339(tonumber(started_at)) .. '"' end
  entry = entry .. ',"finished_at":"' .. rfc3339(now) .. '"}'
  local attempts = redis.call('HGET', key, 'attempts')
  if attempts and #attempts > 2 then
    attempts = string.sub(attempts, 1, -2) .. ',' .. entry .. ']'
  else
    attempts = '[' .. entry .. ']'
  end
  redis.call('HSET', key, 'attempts', attempts)
end
-- A final job leaves Redis after the retention (--retention), its idempotency key with it;
-- the `jobs` zset loses its id when a list meets it gone, or when promote_due finds it in
-- `expiring` (by expiry time: no work while nothing expires).
local function retire(id, retention, now)
  local key = job_key(id)
  redis.call('PEXPIRE', key, retention)
  local idem = redis.call('HGET', key, 'idempotency_key')
  if idem then redis.call('PEXPIRE', P .. 'idem:' .. idem, retention) end
  redis.call('ZADD', P .. 'expiring', now + retention, id)
end
-- Back to queued for attempt+1: due now (a stream entry) or later (the delayed set).
local function requeue(id, executor, next_attempt, due, now)
  local key = job_key(id)
  redis.call('HSET', key, 'state', 'queued', 'attempt', next_attempt, 'run_at', due)
  redis.call('HDEL', key, 'owner', 'lease_until', 'started_at', 'details', 'entry', 'cancel')
  -- Never expires while it can still run.
  redis.call('PERSIST', key)
  local idem = redis.call('HGET', key, 'idempotency_key')
  if idem then redis.call('PERSIST', P .. 'idem:' .. idem) end
  redis.call('ZREM', P .. 'expiring', id)
  if due > now then
    redis.call('ZADD', P .. 'delayed', due, id)
  else
    enqueue(id, executor, next_attempt)
  end
end
)lua";

// KEYS: none. ARGV: prefix, id, idempotency key ('' none), kind, executor, params, timeout_ms,
// max_attempts, retry_delay_ms, run_at ('' none), created_at.
// Returns {id, seq, replayed (0|1)}; an error EXISTS if the id is taken.
constexpr const char* kSubmit = R"lua(
local id, idem, executor = ARGV[2], ARGV[3], ARGV[5]
local run_at, created_at = ARGV[10], tonumber(ARGV[11])
if idem ~= '' then
  local existing = redis.call('GET', P .. 'idem:' .. idem)
  if existing then
    local seq = redis.call('HGET', job_key(existing), 'seq')
    if seq then return {existing, tonumber(seq), 1} end
  end
end
local key = job_key(id)
if redis.call('EXISTS', key) == 1 then return redis.error_reply('EXISTS job ' .. id) end
local seq = redis.call('INCR', P .. 'seq')
redis.call('HSET', key, 'id', id, 'seq', seq, 'kind', ARGV[4], 'executor', executor, 'params', ARGV[6],
  'timeout_ms', ARGV[7], 'max_attempts', ARGV[8], 'retry_delay_ms', ARGV[9], 'created_at', created_at,
  'state', 'queued', 'attempt', 1)
if idem ~= '' then
  redis.call('HSET', key, 'idempotency_key', idem)
  redis.call('SET', P .. 'idem:' .. idem, id)
end
redis.call('ZADD', P .. 'jobs', seq, id)
if run_at ~= '' then redis.call('HSET', key, 'run_at', run_at) end
if run_at ~= '' and tonumber(run_at) > created_at then
  redis.call('ZADD', P .. 'delayed', tonumber(run_at), id)
else
  enqueue(id, executor, 1)
end
publish(id, seq, 'queued', 1, created_at)
return {id, seq, 0}
)lua";

// ARGV: prefix, consumer, now, lease_ms, then (entry, id, attempt) per delivered entry.
// Marks each delivered attempt running and returns the jobs' hashes; a delivery that no
// longer matches its job (cancelled, superseded, deleted) is acknowledged and dropped.
constexpr const char* kStart = R"lua(
local consumer, now, lease = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for i = 5, #ARGV, 3 do
  local entry, id, attempt = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local key = job_key(id)
  local h = redis.call('HMGET', key, 'state', 'attempt', 'entry', 'executor', 'seq')
  if h[1] == 'queued' and h[2] == attempt and h[3] == entry then
    redis.call('HSET', key, 'state', 'running', 'owner', consumer, 'started_at', now, 'lease_until', now + lease)
    publish(id, h[5], 'running', attempt, now)
    out[#out + 1] = redis.call('HGETALL', key)
  elseif h[4] then
    consume(h[4], entry)
  end
end
return out
)lua";

// ARGV: prefix, consumer, now, lease_ms, then (id, attempt) per lease. Renews a lease only while
// the job is still this consumer's attempt and its entry is still pending (XCLAIM ... JUSTID
// resets the idle time that reclaim measures).
// Returns {lost ids, ids asked to cancel}.
constexpr const char* kRenew = R"lua(
local consumer, now, lease = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local lost, cancel = {}, {}
for i = 5, #ARGV, 2 do
  local id, attempt = ARGV[i], ARGV[i + 1]
  local key = job_key(id)
  local h = redis.call('HMGET', key, 'state', 'owner', 'attempt', 'entry', 'executor', 'cancel')
  local kept = false
  if h[1] == 'running' and h[2] == consumer and h[3] == attempt and h[4] then
    -- Empty when the entry is no longer pending (taken over and acknowledged by a reclaim).
    local claimed = redis.call('XCLAIM', stream_key(h[5]), GROUP, consumer, 0, h[4], 'JUSTID')
    if #claimed == 1 then
      redis.call('HSET', key, 'lease_until', now + lease)
      kept = true
    end
  end
  if not kept then
    lost[#lost + 1] = id
  elseif h[6] == '1' then
    cancel[#cancel + 1] = id
  end
end
return {lost, cancel}
)lua";

// ARGV: prefix, id, consumer, attempt, now, state, result, error_type, error_message, details,
// retry_at ('' none), retention_ms. Fenced: written only while the job is running as this consumer's
// `attempt`. Returns 1 accepted, 0 stale (nothing written), -1 no such job.
constexpr const char* kFinish = R"lua(
local id, consumer, attempt, now = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local state, retry_at = ARGV[6], ARGV[11]
local key = job_key(id)
local h = redis.call('HMGET', key, 'state', 'owner', 'attempt', 'entry', 'executor', 'max_attempts',
  'started_at', 'seq')
if not h[1] then return -1 end
if h[1] ~= 'running' or h[2] ~= consumer or h[3] ~= attempt then return 0 end
consume(h[5], h[4])
local n = tonumber(attempt)
if retry_at ~= '' and n < tonumber(h[6]) then
  append_attempt(key, n, ARGV[8], ARGV[9], h[7], now)
  requeue(id, h[5], n + 1, tonumber(retry_at), now)
  publish(id, h[8], 'queued', n + 1, now)
  return 1
end
redis.call('HSET', key, 'state', state, 'finished_at', now)
redis.call('HDEL', key, 'lease_until', 'cancel', 'entry')
local fields = {'result', 'error_type', 'error_message', 'details'}
for i, field in ipairs(fields) do
  if ARGV[6 + i] ~= '' then redis.call('HSET', key, field, ARGV[6 + i]) end
end
retire(id, tonumber(ARGV[12]), now)
publish(id, h[8], state, n, now)
return 1
)lua";

// ARGV: prefix, executor, consumer, min_idle_ms, now, count, retry cap ms, jitter unit [0,1),
// retention_ms.
// Takes over (XAUTOCLAIM) entries idle longer than the lease and ends each one's attempt as
// `interrupted`: retried with backoff while attempts remain, else failed; a job asked to cancel
// is cancelled; a delivery that never started runs again with the same attempt.
// Returns {requeued, failed, cancelled, redelivered} (ids).
constexpr const char* kReclaim = R"lua(
local executor, consumer, min_idle = ARGV[2], ARGV[3], ARGV[4]
local now, count, cap, unit = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local retention = tonumber(ARGV[9])
local stream = stream_key(executor)
if redis.call('EXISTS', stream) == 0 then return {{}, {}, {}, {}} end
local requeued, failed, cancelled, redelivered = {}, {}, {}, {}
local function backoff(base, failed_attempt, u)
  if base <= 0 or cap <= 0 then return 0 end
  local ceiling = math.min(base, cap)
  for _ = 2, failed_attempt do
    if ceiling >= cap then break end
    ceiling = math.min(ceiling * 2, cap)
  end
  local half = math.floor(ceiling / 2)
  return math.min(ceiling, half + math.floor(u * (ceiling - half)))
end
local cursor, seen = '0-0', 0
repeat
  local res = redis.call('XAUTOCLAIM', stream, GROUP, consumer, min_idle, cursor, 'COUNT', count - seen)
  cursor = res[1]
  for _, e in ipairs(res[2]) do
    seen = seen + 1
    local entry, f = e[1], e[2]
    consume(executor, entry)
    local id = f and f[2]
    local key = id and job_key(id)
    local h = key and redis.call('HMGET', key, 'state', 'attempt', 'entry', 'max_attempts', 'retry_delay_ms',
      'started_at', 'seq', 'cancel', 'owner')
    if h and h[3] == entry then
      local n = tonumber(h[2])
      if h[1] == 'queued' then
        enqueue(id, executor, n)
        redelivered[#redelivered + 1] = id
      elseif h[1] == 'running' and h[8] == '1' then
        redis.call('HSET', key, 'state', 'cancelled', 'error_type', 'cancelled', 'error_message',
          'cancelled; the replica running it stopped', 'finished_at', now)
        redis.call('HDEL', key, 'lease_until', 'cancel', 'entry')
        retire(id, retention, now)
        publish(id, h[7], 'cancelled', n, now)
        cancelled[#cancelled + 1] = id
      elseif h[1] == 'running' then
        local message = 'the replica running it (' .. (h[9] or '?') .. ') stopped renewing its lease'
        if n < tonumber(h[4]) then
          append_attempt(key, n, 'interrupted', message, h[6], now)
          -- One draw per call, spread over the batch by the golden ratio.
          local u = (unit + #requeued * 0.6180339887) % 1
          requeue(id, executor, n + 1, now + backoff(tonumber(h[5]), n, u), now)
          publish(id, h[7], 'queued', n + 1, now)
          requeued[#requeued + 1] = id
        else
          redis.call('HSET', key, 'state', 'failed', 'error_type', 'interrupted', 'error_message', message,
            'finished_at', now)
          redis.call('HDEL', key, 'lease_until', 'cancel', 'entry')
          retire(id, retention, now)
          publish(id, h[7], 'failed', n, now)
          failed[#failed + 1] = id
        end
      end
    end
  end
until cursor == '0-0' or seen >= count
return {requeued, failed, cancelled, redelivered}
)lua";

// ARGV: prefix, now, limit. Moves due delayed jobs to their streams; ZREM inside the script
// makes it safe to run from every replica at once (each job moves once). Then drops up to
// `limit` ids whose retention ran out from the `jobs` zset (a newest-first list seldom reaches
// the oldest ids); one not yet expired by Redis's clock stays for a later round.
constexpr const char* kPromoteDue = R"lua(
local now, limit = ARGV[2], tonumber(ARGV[3])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'expiring', '-inf', now, 'LIMIT', 0, limit)) do
  if redis.call('EXISTS', job_key(id)) == 0 then
    redis.call('ZREM', P .. 'jobs', id)
    redis.call('ZREM', P .. 'expiring', id)
  end
end
local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, limit)
local moved = 0
for _, id in ipairs(due) do
  redis.call('ZREM', P .. 'delayed', id)
  local h = redis.call('HMGET', job_key(id), 'state', 'executor', 'attempt')
  if h[1] == 'queued' then
    enqueue(id, h[2], h[3])
    moved = moved + 1
  end
end
return moved
)lua";

// ARGV: prefix, id, now, retention_ms. Returns {'cancelled'} (queued: final at once), {'requested', owner}
// (running: flagged and the owner told), {'final', state}, or {'not_found'}.
constexpr const char* kCancel = R"lua(
local id, now = ARGV[2], tonumber(ARGV[3])
local key = job_key(id)
local h = redis.call('HMGET', key, 'state', 'executor', 'entry', 'owner', 'seq', 'attempt')
if not h[1] then return {'not_found'} end
if h[1] == 'queued' then
  consume(h[2], h[3])
  redis.call('ZREM', P .. 'delayed', id)
  redis.call('HSET', key, 'state', 'cancelled', 'error_type', 'cancelled', 'error_message',
    'cancelled before it started', 'finished_at', now)
  redis.call('HDEL', key, 'entry')
  retire(id, tonumber(ARGV[4]), now)
  publish(id, h[5], 'cancelled', h[6], now)
  return {'cancelled'}
end
if h[1] == 'running' then
  redis.call('HSET', key, 'cancel', 1)
  redis.call('PUBLISH', P .. 'ctl:' .. h[4], id)
  return {'requested', h[4]}
end
return {'final', h[1]}
)lua";

}  // namespace

std::string with_prelude(const char* body) { return std::string(kPrelude) + body; }

std::string with_events_max(const std::string& text, std::size_t events_max) {
  std::string out = text;
  const std::string_view mark = "@EVENTS_MAX@";
  if (const auto at = out.find(mark); at != std::string::npos)
    out.replace(at, mark.size(), std::to_string(std::max<std::size_t>(events_max, 1)));
  return out;
}

const std::string& submit() {
  static const std::string text = with_prelude(kSubmit);
  return text;
}
const std::string& start() {
  static const std::string text = with_prelude(kStart);
  return text;
}
const std::string& renew() {
  static const std::string text = with_prelude(kRenew);
  return text;
}
const std::string& finish() {
  static const std::string text = with_prelude(kFinish);
  return text;
}
const std::string& reclaim() {
  static const std::string text = with_prelude(kReclaim);
  return text;
}
const std::string& promote_due() {
  static const std::string text = with_prelude(kPromoteDue);
  return text;
}
const std::string& cancel() {
  static const std::string text = with_prelude(kCancel);
  return text;
}

}  // namespace jobd::store::redis_scripts
