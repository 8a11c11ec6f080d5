// The event loop's health: a timer samples how late the loop runs it, into a histogram, and
// warns when the loop was held longer than the slow threshold, naming what ran last.
// What asyncio's debug mode gives Python users, always on: one timer wake-up per 50 ms.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <string_view>

#include "metrics/registry.hpp"

namespace jobd::metrics {

inline constexpr auto kLagSampleInterval = std::chrono::milliseconds(50);

// What the loop thread started last (a route template or a job kind), for the slow-loop
// warning. A plain thread_local store: no cost worth measuring. The label must have static
// storage (route templates, kind names that live as long as the registry).
inline thread_local std::string_view loop_activity = "nothing yet";
inline void note_loop_activity(std::string_view what) { loop_activity = what; }

// Starts the sampler on the loop; it runs until the loop stops.
void start_lag_sampler(const boost::asio::any_io_executor& loop, Histogram& lag,
                       std::chrono::milliseconds slow);

}  // namespace jobd::metrics
