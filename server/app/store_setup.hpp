// The job store in the app: opened from --store before anything listens, its jobs recovered
// into the table (jobs/recovery.hpp), its commits, failures and recovery fed to metrics and the
// log. A store that cannot be opened stops start-up with one line (the caller exits non-zero).
#pragma once

#include <boost/asio/io_context.hpp>
#include <deque>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "jobs/recovery.hpp"
#include "store/job_store.hpp"

namespace jobd::jobs {
class Scheduler;
}
namespace jobd::metrics {
class Registry;
}

namespace jobd::app {

// The store --store names, or null after logging one critical line saying why not.
std::unique_ptr<store::JobStore> open_configured_store(const config::Config& config,
                                                       boost::asio::io_context& loop);

// Loads the stored jobs into the scheduler's table, logs one line, and runs the loop until what
// recovery changed (interrupted jobs, ...) is committed. False after logging why, when the store
// could not be read.
bool recover(store::JobStore& store, jobs::Scheduler& scheduler, const kinds::KindRegistry& kinds,
             std::deque<kinds::Kind>& unknown_kinds, boost::asio::io_context& loop,
             jobs::RecoveryReport& report);

// Store metrics (commit batch sizes and latency, errors, recovered jobs) and log lines on a
// failing and a recovered store. `registry` null: log lines only.
void observe_store(store::JobStore& store, metrics::Registry* registry, const jobs::RecoveryReport& report);

}  // namespace jobd::app
