// What the API asks of the cluster: submit, get, wait, cancel and list, answered from Redis
// (or from the local table for a job running here, which has its live progress).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>

#include "cluster/cluster.hpp"
#include "cluster/remote_record.hpp"
#include "jobs/job_rows.hpp"
#include "jobs/scheduler.hpp"
#include "store/redis_job_codec.hpp"

namespace jobd::cluster {

namespace asio = boost::asio;
using proto::Problem;
namespace problems = proto::problems;

namespace {
Problem not_found() {
  return Problem{problems::job_not_found, "no job with that id", std::nullopt, std::nullopt};
}

// Up to ARGV[2] jobs with seq below ARGV[3] ('+inf': the newest), newest first, as HGETALLs.
// Ids whose hash expired (retention) leave the zset as they are met and the page reads on past
// them, so a short page still means the end.
constexpr const char* kListNewest = R"lua(
local limit = tonumber(ARGV[2])
local max = ARGV[3] == '+inf' and '+inf' or ('(' .. ARGV[3])
local out = {}
local wanted, ids
repeat
  wanted = limit - #out
  ids = redis.call('ZREVRANGEBYSCORE', ARGV[1] .. 'jobs', max, '-inf', 'WITHSCORES', 'LIMIT', 0, wanted)
  for i = 1, #ids, 2 do
    local h = redis.call('HGETALL', ARGV[1] .. 'job:' .. ids[i])
    if #h > 0 then out[#out + 1] = h else redis.call('ZREM', ARGV[1] .. 'jobs', ids[i]) end
    max = '(' .. ids[i + 1]
  end
until #out >= limit or #ids < 2 * wanted
return out
)lua";

// Jobs scanned for one filtered page at most: a filter that matches little ends the page early,
// with a cursor, rather than reading the whole index.
constexpr std::size_t kMaxScanned = 5000;
}  // namespace

asio::awaitable<std::variant<SubmitAnswer, Problem>> Cluster::submit(proto::JobSpec spec) {
  auto admitted = scheduler_.admit(spec);
  if (auto* problem = std::get_if<Problem>(&admitted)) co_return std::move(*problem);
  const jobs::Admission& admission = std::get<jobs::Admission>(admitted);
  store::JobRow row;
  row.id = jobs::make_job_id();
  row.kind = admission.kind->name;
  row.executor = admission.executor;
  row.params_json = jobs::to_json_text(admission.params);
  row.idempotency_key = spec.idempotency_key;
  row.timeout_ms = admission.timeout.count();
  row.created_at_ms = jobs::to_unix_ms(admission.now);
  row.max_attempts = admission.plan.max_attempts;
  row.retry_delay_ms = admission.plan.retry_delay.count();
  if (admission.plan.run_at) row.run_at_ms = jobs::to_unix_ms(*admission.plan.run_at);
  auto stored = co_await jobs_->submit(row);
  if (!stored.ok()) co_return unavailable("the job was not stored", stored.detail);
  SubmitAnswer answer;
  answer.id = stored.value.id;
  if (!stored.value.replayed) {
    row.seq = stored.value.seq;
    answer.record = render_remote_record(row, *admission.kind);
    co_return answer;
  }
  // The key named an earlier job (of any replica): the same request, or a conflict.
  auto earlier = co_await jobs_->get(stored.value.id);
  if (!earlier.ok()) co_return unavailable("cannot read the earlier job", earlier.detail);
  if (!earlier.value) co_return not_found();
  store::JobRow& first = earlier.value->row;
  if (first.kind != row.kind || first.executor != row.executor || first.max_attempts != row.max_attempts ||
      first.retry_delay_ms != row.retry_delay_ms ||
      nlohmann::json::parse(first.params_json, nullptr, false) != admission.params) {
    co_return Problem{problems::idempotency_conflict,
                      "idempotency key was used for job " + first.id + " with another request",
                      "/idempotency_key", std::nullopt};
  }
  answer.replayed = true;
  answer.final = proto::is_final(first.state);
  answer.record = render_remote_record(first, kind_named(first.kind));
  co_return answer;
}

asio::awaitable<std::variant<RecordAnswer, Problem>> Cluster::get(std::string id) {
  // Running here: the local table has its live state (progress, executor fields).
  if (const jobs::Job* local = scheduler_.table().get(id); local && !proto::is_final(local->state)) {
    co_return RecordAnswer{jobs::render_record(*local), false};
  }
  auto got = co_await jobs_->get(std::move(id));
  if (!got.ok()) co_return unavailable("cannot read the job", got.detail);
  if (!got.value) co_return not_found();
  store::JobRow& row = got.value->row;
  const bool final = proto::is_final(row.state);
  co_return RecordAnswer{render_remote_record(row, kind_named(row.kind)), final};
}

asio::awaitable<std::optional<std::string>> Cluster::wait_final(std::string id,
                                                                std::chrono::steady_clock::time_point until) {
  Waiter waiter{asio::steady_timer(loop_), false};
  const auto registered = waiters_.emplace(id, &waiter);
  std::optional<std::string> out;
  for (;;) {
    waiter.woken = false;
    auto read = co_await get(id);
    auto* answer = std::get_if<RecordAnswer>(&read);
    if (answer == nullptr) break;  // Redis away or no such job: the caller's GET says so
    if (answer->final) {
      out = std::move(answer->record);
      break;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) break;
    if (waiter.woken) continue;  // an event came during the read: read again at once
    // Woken by the job's event on the `events` channel; polled too, since pub/sub may lose it.
    waiter.timer.expires_at(std::min(until, now + options_.wait_poll));
    co_await waiter.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  waiters_.erase(registered);
  co_return out;
}

asio::awaitable<std::variant<RecordAnswer, Problem>> Cluster::cancel(std::string id) {
  auto cancelled = co_await jobs_->cancel(id, now_ms());
  if (!cancelled.ok()) co_return unavailable("the cancel was not stored", cancelled.detail);
  switch (cancelled.value.result) {
    case store::CancelResult::not_found: co_return not_found();
    case store::CancelResult::already_final:
      co_return Problem{problems::job_finished,
                        "job is already " + std::string(proto::to_string(
                                                cancelled.value.state.value_or(proto::JobState::failed))),
                        std::nullopt, std::nullopt};
    case store::CancelResult::requested:
      // Running: its replica stops it on the control message (or the renewal's cancel flag).
      if (cancelled.value.owner == options_.replica_id && held_.contains(id)) stop_local(id);
      break;
    case store::CancelResult::cancelled: break;
  }
  auto read = co_await get(std::move(id));
  co_return read;
}

asio::awaitable<std::variant<std::string, Problem>> Cluster::list(ListQuery query) {
  if (!list_newest_) list_newest_ = std::make_unique<store::redis::RedisScript>(kListNewest);
  const bool filtered = query.state.has_value() || query.kind.has_value();
  const std::size_t batch = filtered ? std::max<std::size_t>(query.limit * 4, 100) : query.limit + 1;
  const std::string prefix = jobs_->options().prefix;
  std::string body = "{\"jobs\":[";
  std::size_t items = 0;
  std::size_t scanned = 0;
  std::optional<std::uint64_t> cursor = query.before;
  std::optional<std::uint64_t> next_cursor;
  bool more = true;
  while (items < query.limit && more) {
    const std::string max = cursor ? std::to_string(*cursor) : std::string("+inf");
    const std::string count = std::to_string(batch);
    const std::string_view args[] = {prefix, count, max};
    auto [ec, reply] = co_await list_newest_->run(*commands_, {}, args);
    if (ec) co_return unavailable("cannot list the jobs", ec.message());
    if (reply.is_error()) co_return unavailable("cannot list the jobs", std::string(reply.text()));
    const auto* hashes = reply.as_array();
    if (hashes == nullptr) co_return unavailable("cannot list the jobs", "unexpected reply");
    more = hashes->size() == batch;
    for (const auto& hash : *hashes) {
      auto job = store::job_from_hash(hash);
      if (!job) continue;
      ++scanned;
      cursor = job->row.seq;
      if (query.state && job->row.state != *query.state) continue;
      if (query.kind && job->row.kind != *query.kind) continue;
      if (items == query.limit) {
        // One more than the page holds: the page ends before it.
        more = true;
        break;
      }
      if (items > 0) body += ',';
      append_remote_record(body, job->row, kind_named(job->row.kind), query.view);
      next_cursor = job->row.seq;
      ++items;
    }
    if (scanned >= kMaxScanned && items < query.limit && more) {
      next_cursor = cursor;  // the page ends early: the client goes on from here
      break;
    }
  }
  body += "],\"next_cursor\":";
  if (more && next_cursor) {
    body += '"';
    body += std::to_string(*next_cursor);
    body += "\"}";
  } else {
    body += "null}";
  }
  co_return body;
}

}  // namespace jobd::cluster
