#include "cluster/cluster.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <nlohmann/json.hpp>

#include "jobs/job_rows.hpp"
#include "jobs/scheduler.hpp"

namespace jobd::cluster {

namespace asio = boost::asio;
using proto::Problem;
namespace problems = proto::problems;

namespace {
store::redis::RedisOptions named(store::redis::RedisOptions options, const std::string& replica,
                                 std::string_view role) {
  options.client_name = "jobd:" + replica + ":" + std::string(role);
  // Client names may not hold spaces (CLIENT SETNAME refuses them).
  for (char& c : options.client_name) {
    if (c == ' ') c = '_';
  }
  return options;
}
}  // namespace

std::int64_t Cluster::now_ms() { return jobs::to_unix_ms(jobs::Clock::now()); }

Cluster::Cluster(asio::any_io_executor loop, jobs::Scheduler& scheduler, const kinds::KindRegistry& kinds,
                 ClusterOptions options, store::redis::RedisOptions redis)
    : loop_(std::move(loop)),
      scheduler_(scheduler),
      kinds_(kinds),
      options_(std::move(options)),
      redis_options_(std::move(redis)) {
  commands_ = std::make_unique<store::redis::RedisConnection>(
      loop_, named(redis_options_, options_.replica_id, "commands"));
  store::RedisJobsOptions model{"jobd:", options_.lease, options_.retry_max_delay, options_.retention,
                                options_.event_history};
  events_flush_ = std::make_unique<asio::steady_timer>(loop_);
  for (auto id : proto::kAllExecutors) {
    if (scheduler_.executor(id) == nullptr) continue;
    const auto index = static_cast<std::size_t>(id);
    claims_[index] = std::make_unique<store::redis::RedisConnection>(
        loop_, named(redis_options_, options_.replica_id, "claims-" + std::string(proto::to_string(id))));
    claimers_[index] = std::make_unique<store::RedisJobs>(*commands_, *claims_[index], model);
    slot_freed_[index] = std::make_unique<asio::steady_timer>(loop_);
  }
  // Claims never go through jobs_: its claims connection is any of them.
  store::redis::RedisConnection* any_claims = nullptr;
  for (auto& claims : claims_) {
    if (claims && any_claims == nullptr) any_claims = claims.get();
  }
  jobs_ = std::make_unique<store::RedisJobs>(*commands_, any_claims ? *any_claims : *commands_, model);
  subscriber_ = std::make_unique<store::redis::RedisSubscriber>(
      loop_, named(redis_options_, options_.replica_id, "events"),
      [this](const store::redis::PubSubMessage& message) { on_message(message); });
  scheduler_.on_attempt_end([this](const jobs::Job& job, bool retry) { on_attempt_end(job, retry); });
}

Cluster::~Cluster() { stop(); }

void Cluster::stop() {
  if (stopped_) return;
  stopped_ = true;
  events_flush_->cancel();
  for (auto& timer : slot_freed_) {
    if (timer) timer->cancel();
  }
  subscriber_->stop();
  for (auto& claims : claims_) {
    if (claims) claims->stop();
  }
  commands_->stop();
}

std::string Cluster::start(asio::io_context& loop) {
  std::optional<std::string> refusal;
  asio::co_spawn(loop, connect(), [&refusal](const std::exception_ptr& error, std::string why) {
    refusal = error ? std::string("start-up failed") : std::move(why);
  });
  {
    auto busy = asio::make_work_guard(loop);
    while (!refusal) loop.run_one();
  }
  loop.restart();
  if (!refusal->empty()) return *refusal;
  for (auto id : proto::kAllExecutors) {
    if (claimers_[static_cast<std::size_t>(id)]) asio::co_spawn(loop_, claim_loop(id), asio::detached);
  }
  asio::co_spawn(loop_, renew_loop(), asio::detached);
  asio::co_spawn(loop_, reclaim_loop(), asio::detached);
  asio::co_spawn(loop_, promote_loop(), asio::detached);
  asio::co_spawn(loop_, follow_poll_loop(), asio::detached);
  spdlog::info("replica {} on {}: lease {} ms", options_.replica_id, redis_options_.endpoint.display(),
               options_.lease.count());
  return {};
}

asio::awaitable<std::string> Cluster::connect() {
  const std::string where = "--store " + redis_options_.endpoint.display();
  commands_->start();
  for (auto& claims : claims_) {
    if (claims) claims->start();
  }
  subscriber_->start();
  const std::error_code ready = co_await commands_->wait_ready(options_.start_timeout);
  if (ready) {
    const std::string last = commands_->health().last_error;
    co_return where + ": cannot connect: " + ready.message() + (last.empty() ? "" : " (" + last + ")");
  }
  auto check = co_await jobs_->check_server();
  if (!check.ok()) co_return where + ": cannot check the server: " + check.detail;
  if (!check.value.ok) co_return where + ": refused: " + check.value.refusal;
  for (const auto& warning : check.value.warnings) spdlog::warn("{}: {}", where, warning);
  auto groups = co_await jobs_->create_groups();
  if (!groups.ok()) co_return where + ": cannot create the consumer groups: " + groups.detail;
  for (auto& claims : claims_) {
    if (!claims) continue;
    const std::error_code claims_ready = co_await claims->wait_ready(options_.start_timeout);
    if (claims_ready) co_return where + ": claims connection: " + claims_ready.message();
  }
  std::string events_channel = jobs_->events_channel();
  std::string control_channel = jobs_->control_channel(options_.replica_id);
  const std::error_code events = co_await subscriber_->subscribe(std::move(events_channel));
  if (events) co_return where + ": cannot subscribe to the events channel: " + events.message();
  const std::error_code control =
      co_await subscriber_->subscribe(jobs_->control_channel(options_.replica_id));
  if (control) co_return where + ": cannot subscribe to the control channel: " + control.message();
  const std::error_code job_events = co_await subscriber_->subscribe(jobs_->job_events_channel());
  if (job_events) co_return where + ": cannot subscribe to the job events channel: " + job_events.message();
  co_return std::string();
}

void Cluster::on_message(const store::redis::PubSubMessage& message) {
  if (message.channel == jobs_->events_channel()) {
    // {"id","seq","state","attempt"}: wake the ?wait= readers of that job; they read Redis.
    // Also the SSE followers of that job, and the /v1/events streams. Every replica hears every
    // job's changes: nobody to tell is the common case, decided before any parsing.
    if (waiters_.empty() && follows_.empty() && !(states_wanted_ && states_wanted_())) return;
    const auto event = nlohmann::json::parse(message.payload, nullptr, false);
    if (!event.is_object() || !event.contains("id") || !event["id"].is_string()) return;
    const std::string id = event["id"].get<std::string>();
    wake_followers(id);
    note_state(message.payload);
    // Only a final state ends a wait: a start or a requeue would cost each waiter a Redis read
    // for nothing (one round trip of about five per submit-and-wait). A lost final message
    // costs the poll (wait_poll), as before.
    if (const auto state = event.find("state"); state != event.end() && state->is_string()) {
      const auto parsed = proto::parse_job_state(state->get_ref<const std::string&>());
      if (parsed && !proto::is_final(*parsed)) return;
    }
    const auto [first, last] = waiters_.equal_range(id);
    for (auto it = first; it != last; ++it) {
      it->second->woken = true;
      it->second->timer.cancel();
    }
    return;
  }
  if (message.channel == jobs_->job_events_channel()) {
    // Ids (space-separated) whose streams got progress or output: their followers read on.
    std::string_view ids = message.payload;
    while (!ids.empty()) {
      const auto space = ids.find(' ');
      const std::string_view id = ids.substr(0, space);
      if (!id.empty()) wake_followers(id);
      if (space == std::string_view::npos) break;
      ids.remove_prefix(space + 1);
    }
    return;
  }
  // ctl:{us}: the payload is the id of a job asked to stop.
  if (held_.contains(message.payload)) stop_local(message.payload);
}

store::StoreHealth Cluster::health() const {
  const auto redis = commands_->health();
  if (redis.state == store::redis::RedisState::connected) return {};
  return {false, "redis " + redis.endpoint + " " + std::string(store::redis::to_string(redis.state)) +
                     (redis.last_error.empty() ? "" : ": " + redis.last_error)};
}

ClusterStats Cluster::stats() const {
  ClusterStats out = stats_;
  out.commands = commands_->health();
  return out;
}

std::size_t Cluster::finishing() const {
  std::size_t count = 0;
  for (const auto& [id, held] : held_) count += held.ending ? 1 : 0;
  return count;
}

Problem Cluster::unavailable(std::string_view what, const std::string& detail) const {
  return Problem{problems::store_unavailable, std::string(what) + ": redis: " + detail, std::nullopt,
                 options_.retry_after_s};
}

const kinds::Kind& Cluster::kind_named(const std::string& name) {
  if (const kinds::Kind* kind = kinds_.find(name)) return *kind;
  for (const auto& unknown : unknown_kinds_) {
    if (unknown.name == name) return unknown;
  }
  kinds::Kind& stand_in = unknown_kinds_.emplace_back();
  stand_in.name = name;
  stand_in.description = "not registered on this replica";
  return stand_in;
}

}  // namespace jobd::cluster
