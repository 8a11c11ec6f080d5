#include "store/redis_jobs.hpp"

#include <utility>

#include "store/redis_job_codec.hpp"
#include "store/redis_job_scripts.hpp"
#include "store/redis_reply_result.hpp"

namespace jobd::store {

namespace asio = boost::asio;
using redis::Command;
using redis::Reply;

namespace {

constexpr const char* kGroup = "jobd";

std::vector<std::string> strings(const Reply& reply) {
  std::vector<std::string> out;
  if (const auto* array = reply.as_array()) {
    for (const Reply& element : *array) out.emplace_back(element.text());
  }
  return out;
}

// An array of HGETALL replies to jobs; false when one is not a job.
bool jobs_from(const Reply& reply, std::vector<RedisJob>& jobs) {
  const auto* array = reply.as_array();
  if (array == nullptr) return false;
  for (const Reply& hash : *array) {
    auto job = job_from_hash(hash);
    if (!job) return false;
    jobs.push_back(std::move(*job));
  }
  return true;
}

}  // namespace

RedisJobs::RedisJobs(redis::RedisConnection& commands, redis::RedisConnection& claims,
                     RedisJobsOptions options)
    : commands_(commands),
      claims_(claims),
      options_(std::move(options)),
      submit_(redis_scripts::with_events_max(redis_scripts::submit(), options_.events_max)),
      start_(redis_scripts::with_events_max(redis_scripts::start(), options_.events_max)),
      renew_(redis_scripts::with_events_max(redis_scripts::renew(), options_.events_max)),
      finish_(redis_scripts::with_events_max(redis_scripts::finish(), options_.events_max)),
      reclaim_(redis_scripts::with_events_max(redis_scripts::reclaim(), options_.events_max)),
      promote_(redis_scripts::with_events_max(redis_scripts::promote_due(), options_.events_max)),
      cancel_(redis_scripts::with_events_max(redis_scripts::cancel(), options_.events_max)),
      list_(redis_scripts::with_events_max(redis_scripts::list(), options_.events_max)),
      append_events_(redis_scripts::with_events_max(redis_scripts::append_events(), options_.events_max)),
      read_events_(redis_scripts::with_events_max(redis_scripts::read_events(), options_.events_max)),
      job_hashes_(redis_scripts::with_events_max(redis_scripts::job_hashes(), options_.events_max)),
      random_(std::random_device{}()) {}

std::string RedisJobs::job_key(std::string_view id) const {
  return options_.prefix + "job:" + std::string(id);
}
std::string RedisJobs::stream_key(proto::Executor executor) const {
  return options_.prefix + "q:" + std::string(proto::to_string(executor));
}
std::string RedisJobs::control_channel(std::string_view consumer) const {
  return options_.prefix + "ctl:" + std::string(consumer);
}

asio::awaitable<std::tuple<std::error_code, Reply>> RedisJobs::run(redis::RedisScript& script,
                                                                   std::vector<std::string> args) {
  const std::vector<std::string_view> views(args.begin(), args.end());
  co_return co_await script.run(commands_, {}, views);
}

asio::awaitable<RedisResult<ServerCheck>> RedisJobs::check_server() {
  RedisResult<ServerCheck> out;
  const Command info = Command::of("INFO");
  auto [ec, reply] = co_await commands_.command(info);
  if (failed(ec, reply, out)) co_return out;
  if (!reply.is_string()) {
    unexpected(out, reply);
    co_return out;
  }
  // CONFIG may be renamed or refused (managed Redis): then appendfsync is simply not judged.
  const Command config = Command::of("CONFIG", "GET", "appendfsync");
  auto [config_ec, fsync] = co_await commands_.command(config);
  std::string appendfsync;
  if (!config_ec && fsync.is_array() && fsync.as_array()->size() == 2)
    appendfsync = (*fsync.as_array())[1].text();
  out.value = assess_server(reply.text(), appendfsync);
  co_return out;
}

asio::awaitable<RedisResult<bool>> RedisJobs::create_groups() {
  RedisResult<bool> out;
  for (const proto::Executor executor : proto::kAllExecutors) {
    const Command create = Command::of("XGROUP", "CREATE", stream_key(executor), kGroup, "0", "MKSTREAM");
    auto [ec, reply] = co_await commands_.command(create);
    if (!ec && reply.is_error_code("BUSYGROUP")) continue;  // made before: by us or another replica
    if (failed(ec, reply, out)) co_return out;
  }
  out.value = true;
  co_return out;
}

asio::awaitable<RedisResult<Submitted>> RedisJobs::submit(JobRow row) {
  RedisResult<Submitted> out;
  std::vector<std::string> args{options_.prefix,
                                row.id,
                                row.idempotency_key.value_or(""),
                                row.kind,
                                std::string(proto::to_string(row.executor)),
                                row.params_json,
                                std::to_string(row.timeout_ms),
                                std::to_string(row.max_attempts),
                                std::to_string(row.retry_delay_ms),
                                row.run_at_ms ? std::to_string(*row.run_at_ms) : std::string(),
                                std::to_string(row.created_at_ms)};
  auto [ec, reply] = co_await run(submit_, std::move(args));
  if (failed(ec, reply, out)) co_return out;
  const auto* array = reply.as_array();
  if (array == nullptr || array->size() != 3 || !(*array)[1].is_integer() || !(*array)[2].is_integer()) {
    unexpected(out, reply);
    co_return out;
  }
  out.value.id = std::string((*array)[0].text());
  out.value.seq = static_cast<std::uint64_t>(*(*array)[1].as_integer());
  out.value.replayed = *(*array)[2].as_integer() == 1;
  co_return out;
}

asio::awaitable<RedisResult<std::vector<RedisJob>>> RedisJobs::claim(proto::Executor executor,
                                                                     std::string consumer, std::size_t count,
                                                                     std::chrono::milliseconds block,
                                                                     std::int64_t now_ms) {
  RedisResult<std::vector<RedisJob>> out;
  if (count == 0) co_return out;  // no free slot: take nothing (BLOCK would still deliver)
  Command read =
      Command::of("XREADGROUP", "GROUP", kGroup, consumer, "COUNT", static_cast<std::uint64_t>(count));
  // BLOCK 0 would wait for ever: without a block the read answers at once.
  if (block.count() > 0) read.arg("BLOCK").arg(static_cast<std::int64_t>(block.count()));
  read.arg("STREAMS").arg(stream_key(executor)).arg(">");
  const auto timeout = block.count() > 0 ? redis::blocking_timeout(block, claims_.options())
                                         : claims_.options().command_timeout;
  const auto asked = std::chrono::steady_clock::now();
  auto [ec, reply] = co_await claims_.command(read, timeout);
  // Started when the read answered, not when it was asked: it may have blocked for `block`.
  now_ms +=
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - asked).count();
  if (!ec && reply.is_error_code("NOGROUP")) {
    // The stream or its group is gone (FLUSHALL, a new Redis): make them, find nothing this time.
    auto made = co_await create_groups();
    out.error = made.error;
    out.detail = made.detail;
    co_return out;
  }
  if (failed(ec, reply, out) || reply.is_nil()) co_return out;
  // [[stream, [[entry, [field, value, ...]], ...]]]: entries carry the job's id and attempt.
  std::vector<std::string> args{options_.prefix, consumer, std::to_string(now_ms),
                                std::to_string(options_.lease.count())};
  const auto* streams = reply.as_array();
  const auto* stream = streams && streams->size() == 1 ? (*streams)[0].as_array() : nullptr;
  const auto* entries = stream && stream->size() == 2 ? (*stream)[1].as_array() : nullptr;
  if (entries == nullptr) {
    unexpected(out, reply);
    co_return out;
  }
  for (const Reply& entry : *entries) {
    const auto* parts = entry.as_array();
    const auto* fields = parts && parts->size() == 2 ? (*parts)[1].as_array() : nullptr;
    if (fields == nullptr || fields->size() != 4) continue;  // not one of ours: left pending, reclaimed later
    args.emplace_back((*parts)[0].text());
    args.emplace_back((*fields)[1].text());
    args.emplace_back((*fields)[3].text());
  }
  // If this script never runs (Redis went away), the entries stay pending with their jobs
  // queued: reclaim delivers them again, same attempt, once they are idle for a lease.
  auto [started_ec, started] = co_await run(start_, std::move(args));
  if (failed(started_ec, started, out)) co_return out;
  if (!jobs_from(started, out.value)) unexpected(out, started);
  co_return out;
}

asio::awaitable<RedisResult<Renewal>> RedisJobs::renew(std::string consumer, std::vector<Lease> leases,
                                                       std::int64_t now_ms) {
  RedisResult<Renewal> out;
  if (leases.empty()) co_return out;
  std::vector<std::string> args{options_.prefix, consumer, std::to_string(now_ms),
                                std::to_string(options_.lease.count())};
  for (const Lease& lease : leases) {
    args.push_back(lease.id);
    args.push_back(std::to_string(lease.attempt));
  }
  auto [ec, reply] = co_await run(renew_, std::move(args));
  if (failed(ec, reply, out)) co_return out;
  const auto* array = reply.as_array();
  if (array == nullptr || array->size() != 2) {
    unexpected(out, reply);
    co_return out;
  }
  out.value.lost = strings((*array)[0]);
  out.value.cancelled = strings((*array)[1]);
  co_return out;
}

asio::awaitable<RedisResult<FinishResult>> RedisJobs::finish(std::string id, std::string consumer,
                                                             std::uint32_t attempt, AttemptEnd end,
                                                             std::int64_t now_ms) {
  RedisResult<FinishResult> out;
  std::vector<std::string> args{options_.prefix,
                                std::move(id),
                                std::move(consumer),
                                std::to_string(attempt),
                                std::to_string(now_ms),
                                std::string(proto::to_string(end.state)),
                                std::move(end.result_json),
                                std::move(end.error_type),
                                std::move(end.error_message),
                                std::move(end.details_json),
                                end.retry_at_ms ? std::to_string(*end.retry_at_ms) : std::string(),
                                std::to_string(options_.retention.count())};
  auto [ec, reply] = co_await run(finish_, std::move(args));
  if (failed(ec, reply, out)) co_return out;
  const auto code = reply.as_integer();
  if (!code) {
    unexpected(out, reply);
    co_return out;
  }
  out.value = *code == 1   ? FinishResult::accepted
              : *code == 0 ? FinishResult::stale
                           : FinishResult::not_found;
  co_return out;
}

asio::awaitable<RedisResult<Reclaimed>> RedisJobs::reclaim(proto::Executor executor, std::string consumer,
                                                           std::chrono::milliseconds min_idle,
                                                           std::int64_t now_ms, std::size_t count) {
  RedisResult<Reclaimed> out;
  if (count == 0) co_return out;
  const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
  std::vector<std::string> args{options_.prefix,
                                std::string(proto::to_string(executor)),
                                std::move(consumer),
                                std::to_string(min_idle.count()),
                                std::to_string(now_ms),
                                std::to_string(count),
                                std::to_string(options_.retry_max_delay.count()),
                                std::to_string(unit),
                                std::to_string(options_.retention.count())};
  auto [ec, reply] = co_await run(reclaim_, std::move(args));
  if (failed(ec, reply, out)) co_return out;
  const auto* array = reply.as_array();
  if (array == nullptr || array->size() != 4) {
    unexpected(out, reply);
    co_return out;
  }
  out.value.requeued = strings((*array)[0]);
  out.value.failed = strings((*array)[1]);
  out.value.cancelled = strings((*array)[2]);
  out.value.redelivered = strings((*array)[3]);
  co_return out;
}

asio::awaitable<RedisResult<std::size_t>> RedisJobs::promote_due(std::int64_t now_ms, std::size_t limit) {
  RedisResult<std::size_t> out;
  std::vector<std::string> args{options_.prefix, std::to_string(now_ms), std::to_string(limit)};
  auto [ec, reply] = co_await run(promote_, std::move(args));
  if (failed(ec, reply, out)) co_return out;
  const auto moved = reply.as_integer();
  if (!moved) {
    unexpected(out, reply);
    co_return out;
  }
  out.value = static_cast<std::size_t>(*moved);
  co_return out;
}

asio::awaitable<RedisResult<Cancelled>> RedisJobs::cancel(std::string id, std::int64_t now_ms) {
  RedisResult<Cancelled> out;
  std::vector<std::string> args{options_.prefix, std::move(id), std::to_string(now_ms),
                                std::to_string(options_.retention.count())};
  auto [ec, reply] = co_await run(cancel_, std::move(args));
  if (failed(ec, reply, out)) co_return out;
  const std::vector<std::string> parts = strings(reply);
  if (parts.empty()) {
    unexpected(out, reply);
    co_return out;
  }
  if (parts[0] == "cancelled") {
    out.value.result = CancelResult::cancelled;
  } else if (parts[0] == "requested" && parts.size() == 2) {
    out.value.result = CancelResult::requested;
    out.value.owner = parts[1];
  } else if (parts[0] == "final" && parts.size() == 2) {
    out.value.result = CancelResult::already_final;
    out.value.state = proto::parse_job_state(parts[1]);
  } else if (parts[0] == "not_found") {
    out.value.result = CancelResult::not_found;
  } else {
    unexpected(out, reply);
  }
  co_return out;
}

asio::awaitable<RedisResult<std::optional<RedisJob>>> RedisJobs::get(std::string id) {
  RedisResult<std::optional<RedisJob>> out;
  const Command read = Command::of("HGETALL", job_key(id));
  auto [ec, reply] = co_await commands_.command(read);
  if (failed(ec, reply, out)) co_return out;
  const auto* array = reply.as_array();
  if (array == nullptr) {
    unexpected(out, reply);
    co_return out;
  }
  if (array->empty()) co_return out;  // no such job
  out.value = job_from_hash(reply);
  if (!out.value) unexpected(out, reply);
  co_return out;
}

asio::awaitable<RedisResult<std::vector<RedisJob>>> RedisJobs::list(std::uint64_t after_seq,
                                                                    std::size_t limit) {
  RedisResult<std::vector<RedisJob>> out;
  std::vector<std::string> args{options_.prefix, std::to_string(after_seq), std::to_string(limit)};
  auto [ec, reply] = co_await run(list_, std::move(args));
  if (failed(ec, reply, out)) co_return out;
  if (!jobs_from(reply, out.value)) unexpected(out, reply);
  co_return out;
}

}  // namespace jobd::store
