// --store redis://: this jobd as one replica of several sharing their jobs on Redis
// (cluster/cluster.hpp). Started before jobd listens; a Redis that cannot be reached or is
// refused (cluster::Cluster::start) stops start-up with one line.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>

#include "cluster/cluster.hpp"
#include "config/config.hpp"

namespace jobd::metrics {
class Registry;
}

namespace jobd::app {

// Whether --store names a Redis (the local table then keeps only the jobs running here).
bool shared_store(const config::Config& config);

// The connected, checked cluster, or null after logging one critical line saying why not.
std::unique_ptr<cluster::Cluster> start_cluster(const config::Config& config, boost::asio::io_context& loop,
                                                jobs::Scheduler& scheduler, const kinds::KindRegistry& kinds);

// Redis metrics: round trip and reconnects of the commands connection, claims, leases renewed
// and lost, attempts reclaimed, stale finishes; read from the cluster at scrape time.
void observe_cluster(const cluster::Cluster& shared, metrics::Registry& registry);

}  // namespace jobd::app
