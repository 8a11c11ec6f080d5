#include "app/cluster_setup.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "metrics/registry.hpp"
#include "store/redis/options.hpp"
#include "store/redis/uri.hpp"

namespace jobd::app {

bool shared_store(const config::Config& config) {
  return config.store.starts_with("redis://") || config.store.starts_with("redis+unix://");
}

namespace {
// hostname:pid: unique among replicas on one machine and across machines, and stable for the
// life of the process (a restarted replica is a new consumer; the old one's leases expire).
std::string default_replica_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? host : "jobd") + ":" + std::to_string(::getpid());
}
}  // namespace

std::unique_ptr<cluster::Cluster> start_cluster(const config::Config& config, boost::asio::io_context& loop,
                                                jobs::Scheduler& scheduler,
                                                const kinds::KindRegistry& kinds) {
  auto endpoint = store::redis::parse_redis_uri(config.store);
  if (auto* error = std::get_if<std::string>(&endpoint)) {
    spdlog::critical("--store: {}", *error);
    return nullptr;
  }
  auto password = store::redis::load_redis_password_from_environment();
  if (auto* error = std::get_if<std::string>(&password)) {
    spdlog::critical("--store: {}", *error);
    return nullptr;
  }
  store::redis::RedisOptions redis;
  redis.endpoint = std::get<store::redis::RedisEndpoint>(std::move(endpoint));
  redis.password = std::get<store::redis::Secret>(std::move(password));
  cluster::ClusterOptions options;
  options.replica_id = config.replica_id.empty() ? default_replica_id() : config.replica_id;
  options.lease = config.redis_lease;
  options.retry_max_delay = config.retry_max_delay;
  options.retention = config.retention;
  options.event_history = config.event_history;
  if (config.redis_prefetch >= 0) options.prefetch = static_cast<std::size_t>(config.redis_prefetch);
  auto shared = std::make_unique<cluster::Cluster>(loop.get_executor(), scheduler, kinds, options, redis);
  if (const std::string refusal = shared->start(loop); !refusal.empty()) {
    spdlog::critical("{}", refusal);
    shared->stop();
    return nullptr;
  }
  return shared;
}

void observe_cluster(const cluster::Cluster& shared, metrics::Registry& registry) {
  const cluster::Cluster* c = &shared;
  registry
      .callback_gauge(
          "jobd_redis_roundtrip_seconds",
          "Moving average of a Redis command's round trip (queued to reply) on the commands connection")
      .with()
      .set([c] { return std::chrono::duration<double>(c->stats().commands.rtt_ewma).count(); });
  registry
      .callback_counter("jobd_redis_reconnects_total", "Reconnections of the commands connection to Redis")
      .with()
      .set([c] { return static_cast<double>(c->stats().commands.reconnects); });
  registry.callback_gauge("jobd_redis_up", "1 while the commands connection to Redis is up").with().set([c] {
    return c->health().ok ? 1.0 : 0.0;
  });
  auto& leases = registry.callback_counter("jobd_redis_leases_total",
                                           "Leases of jobs running here, renewed or lost to another replica",
                                           {"outcome"});
  leases.with({"renewed"}).set([c] { return static_cast<double>(c->stats().leases_renewed); });
  leases.with({"lost"}).set([c] { return static_cast<double>(c->stats().leases_lost); });
  registry.callback_counter("jobd_redis_claimed_total", "Job attempts claimed from Redis by this replica")
      .with()
      .set([c] { return static_cast<double>(c->stats().claimed); });
  registry
      .callback_counter("jobd_redis_reclaimed_total",
                        "Attempts of replicas that stopped renewing, taken back by this replica")
      .with()
      .set([c] { return static_cast<double>(c->stats().reclaimed); });
  registry
      .callback_counter("jobd_redis_stale_finishes_total",
                        "Attempt ends Redis did not write because the job had moved to a newer attempt")
      .with()
      .set([c] { return static_cast<double>(c->stats().finish_stale); });
}

}  // namespace jobd::app
