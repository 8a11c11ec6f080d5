// The scripts that read the job model (the list) and those of a job's event stream, which SSE
// replays on any replica (DESIGN §2 "Replicas on Redis"). Every script begins with the prelude
// of redis_job_scripts.cpp.
#include "store/redis_job_scripts.hpp"

namespace jobd::store::redis_scripts {

namespace {

// ARGV: prefix, after_seq, limit. The jobs after `after_seq` in seq order, as hashes. Ids
// whose hash expired (retention) leave the zset as they are met, and the page reads on past
// them, so a short page still means the end.
constexpr const char* kList = R"lua(
local limit = tonumber(ARGV[3])
local out = {}
local after = ARGV[2]
local wanted, ids
repeat
  wanted = limit - #out
  ids = redis.call('ZRANGEBYSCORE', P .. 'jobs', '(' .. after, '+inf', 'WITHSCORES', 'LIMIT', 0, wanted)
  for i = 1, #ids, 2 do
    local h = redis.call('HGETALL', job_key(ids[i]))
    if #h > 0 then out[#out + 1] = h else redis.call('ZREM', P .. 'jobs', ids[i]) end
    after = ids[i + 1]
  end
until #out >= limit or #ids < 2 * wanted
return out
)lua";

// ARGV: prefix, consumer, then per job: id, attempt, n, and n times (type, fraction, text).
// Appends the progress and output events of attempts this consumer runs; fenced like finish,
// so a replica that lost its lease adds nothing. One message on `jevents` names the jobs that
// got events (their followers on every replica read on). Returns how many jobs got events.
constexpr const char* kAppendEvents = R"lua(
local consumer = ARGV[2]
local woken = {}
local i = 3
while i <= #ARGV do
  local id, attempt, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local h = redis.call('HMGET', job_key(id), 'state', 'owner', 'attempt')
  if h[1] == 'running' and h[2] == consumer and h[3] == attempt then
    for j = i, i + 3 * (n - 1), 3 do
      if ARGV[j] == 'progress' then
        add_event(id, 't', 'progress', 'f', ARGV[j + 1], 'x', ARGV[j + 2])
      else
        add_event(id, 't', ARGV[j], 'x', ARGV[j + 2])
      end
    end
    woken[#woken + 1] = id
  end
  i = i + 3 * n
end
if #woken > 0 then redis.call('PUBLISH', P .. 'jevents', table.concat(woken, ' ')) end
return #woken
)lua";

// ARGV: prefix, id, after, count. The job's hash and up to `count` of its events after event
// `after` (XRANGE from 0-(after+1)); {} when there is no such job.
constexpr const char* kReadEvents = R"lua(
local h = redis.call('HGETALL', job_key(ARGV[2]))
if #h == 0 then return {} end
local from = string.format('0-%d', tonumber(ARGV[3]) + 1)
return {h, redis.call('XRANGE', event_key(ARGV[2]), from, '+', 'COUNT', tonumber(ARGV[4]))}
)lua";

// ARGV: prefix, ids... Each job's hash (empty when gone), in order.
constexpr const char* kJobHashes = R"lua(
local out = {}
for i = 2, #ARGV do out[#out + 1] = redis.call('HGETALL', job_key(ARGV[i])) end
return out
)lua";

}  // namespace

const std::string& list() {
  static const std::string text = with_prelude(kList);
  return text;
}
const std::string& append_events() {
  static const std::string text = with_prelude(kAppendEvents);
  return text;
}
const std::string& read_events() {
  static const std::string text = with_prelude(kReadEvents);
  return text;
}
const std::string& job_hashes() {
  static const std::string text = with_prelude(kJobHashes);
  return text;
}

}  // namespace jobd::store::redis_scripts
