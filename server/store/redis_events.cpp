// A job's event stream on Redis (DESIGN §2 "Replicas on Redis"): the progress and output
// events a replica appends for the attempts it runs, and the pages SSE reads on any replica.
// The state events are written by the scripts that change the state (the prelude's publish).
#include <cstdlib>

#include "store/redis_job_codec.hpp"
#include "store/redis_jobs.hpp"
#include "store/redis_reply_result.hpp"

namespace jobd::store {

namespace asio = boost::asio;
using redis::Reply;

namespace {

// [entry id "0-N", [field, value, ...]] as an event; false when it is not one.
bool event_from(const Reply& entry, StoredEvent& event) {
  const auto* parts = entry.as_array();
  if (parts == nullptr || parts->size() != 2) return false;
  const std::string_view id = (*parts)[0].text();
  const auto dash = id.find('-');
  if (dash == std::string_view::npos) return false;
  event.id = number<std::uint64_t>(id.substr(dash + 1));
  const auto* fields = (*parts)[1].as_array();
  if (fields == nullptr) return false;
  for (std::size_t i = 0; i + 1 < fields->size(); i += 2) {
    const std::string_view name = (*fields)[i].text();
    const std::string_view value = (*fields)[i + 1].text();
    if (name == "t") {
      event.type = value;
    } else if (name == "s") {
      event.state = value;
    } else if (name == "a") {
      event.attempt = number<std::uint32_t>(value);
    } else if (name == "at") {
      event.at_ms = number<std::int64_t>(value);
    } else if (name == "f") {
      event.fraction = std::strtod(std::string(value).c_str(), nullptr);
    } else if (name == "x") {
      event.text = value;
    }
  }
  return !event.type.empty();
}

}  // namespace

asio::awaitable<RedisResult<std::size_t>> RedisJobs::append_events(std::string consumer,
                                                                   std::vector<EventAppend> batch) {
  RedisResult<std::size_t> out;
  std::vector<std::string> args{options_.prefix, std::move(consumer)};
  for (auto& job : batch) {
    if (job.events.empty()) continue;
    args.push_back(std::move(job.id));
    args.push_back(std::to_string(job.attempt));
    args.push_back(std::to_string(job.events.size()));
    for (auto& event : job.events) {
      args.push_back(std::move(event.type));
      args.push_back(std::move(event.fraction));
      args.push_back(std::move(event.text));
    }
  }
  if (args.size() == 2) co_return out;
  auto [ec, reply] = co_await run(append_events_, std::move(args));
  if (failed(ec, reply, out)) co_return out;
  const auto count = reply.as_integer();
  if (!count) {
    unexpected(out, reply);
    co_return out;
  }
  out.value = static_cast<std::size_t>(*count);
  co_return out;
}

asio::awaitable<RedisResult<EventPage>> RedisJobs::read_events(std::string id, std::uint64_t after,
                                                               std::size_t count) {
  RedisResult<EventPage> out;
  std::vector<std::string> args{options_.prefix, std::move(id), std::to_string(after), std::to_string(count)};
  auto [ec, reply] = co_await run(read_events_, std::move(args));
  if (failed(ec, reply, out)) co_return out;
  const auto* array = reply.as_array();
  if (array == nullptr || (!array->empty() && array->size() != 2)) {
    unexpected(out, reply);
    co_return out;
  }
  if (array->empty()) co_return out;  // no such job
  out.value.job = job_from_hash((*array)[0]);
  const auto* entries = (*array)[1].as_array();
  if (!out.value.job || entries == nullptr) {
    unexpected(out, reply);
    co_return out;
  }
  for (const Reply& entry : *entries) {
    StoredEvent event;
    if (event_from(entry, event)) out.value.events.push_back(std::move(event));
  }
  co_return out;
}

asio::awaitable<RedisResult<std::vector<RedisJob>>> RedisJobs::job_hashes(std::vector<std::string> ids) {
  RedisResult<std::vector<RedisJob>> out;
  if (ids.empty()) co_return out;
  std::vector<std::string> args{options_.prefix};
  for (auto& id : ids) args.push_back(std::move(id));
  auto [ec, reply] = co_await run(job_hashes_, std::move(args));
  if (failed(ec, reply, out)) co_return out;
  const auto* array = reply.as_array();
  if (array == nullptr) {
    unexpected(out, reply);
    co_return out;
  }
  for (const Reply& hash : *array) {
    const auto* fields = hash.as_array();
    if (fields == nullptr || fields->empty()) continue;  // gone (retention)
    if (auto job = job_from_hash(hash)) out.value.push_back(std::move(*job));
  }
  co_return out;
}

}  // namespace jobd::store
