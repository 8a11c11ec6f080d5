#include "app/cluster_setup.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

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
  auto shared = std::make_unique<cluster::Cluster>(loop.get_executor(), scheduler, kinds, options, redis);
  if (const std::string refusal = shared->start(loop); !refusal.empty()) {
    spdlog::critical("{}", refusal);
    shared->stop();
    return nullptr;
  }
  return shared;
}

}  // namespace jobd::app
