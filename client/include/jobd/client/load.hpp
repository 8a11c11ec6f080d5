// The job-aware load generator behind `jobctl bench`: C keep-alive connections on one
// io_context, each a coroutine that submits a job with ?wait=, follows it with long polls when
// the wait ran out (202), and records how it ended. Unlike wrk it measures jobs, not requests:
// latency is submit-to-final-state, and every job is accounted for by outcome.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "jobd/client/client.hpp"
#include "jobd/client/histogram.hpp"

namespace jobd::client {

inline constexpr std::chrono::milliseconds kDefaultLoadWait = 30s;
inline constexpr std::chrono::milliseconds kDefaultProgressInterval = 250ms;
// After a network error a connection pauses this long before its next attempt, so that a
// server that is down is not hammered with connects in a tight loop.
inline constexpr std::chrono::milliseconds kNetworkErrorBackoff = 10ms;

struct LoadOptions {
  nlohmann::json spec;     // the POST /v1/jobs body
  std::uint64_t jobs = 0;  // jobs to submit; 0: no count limit (duration must be set)
  std::size_t connections = 1;
  std::chrono::milliseconds duration{0};              // stop submitting after this; 0: no time limit
  std::chrono::milliseconds wait = kDefaultLoadWait;  // ?wait= of the submit and of each long poll
  std::chrono::milliseconds progress_interval = kDefaultProgressInterval;
};

// What a progress callback sees, every progress_interval.
struct LoadSnapshot {
  std::chrono::nanoseconds elapsed{0};
  std::uint64_t submitted = 0;
  std::uint64_t finished = 0;  // jobs accounted for, whatever their outcome
  std::uint64_t succeeded = 0;
  std::size_t in_flight = 0;
  std::uint64_t p99_ns = 0;  // of the jobs finished so far
};

struct LoadReport {
  std::chrono::nanoseconds elapsed{0};  // first submit to last answer
  std::uint64_t submitted = 0;          // POST /v1/jobs sent
  std::uint64_t accepted = 0;           // answered 200/202: jobs the server created
  std::uint64_t succeeded = 0;          // reached state succeeded
  std::uint64_t not_succeeded = 0;      // everything else (failed, refused, network, unfinished)
  // How each submitted job ended, by kind of outcome: "succeeded", "failed: kind-failed",
  // "timed_out: timed-out", "refused: HTTP 429 queue-full", "network: Connection refused",
  // "unfinished: running" (still not final when the run's time was up). Sums to `submitted`.
  std::map<std::string, std::uint64_t> outcomes;
  std::map<unsigned, std::uint64_t> refusals_by_status;  // non-2xx answers to the submit
  LatencyHistogram latency;  // submit to final state, of the jobs that reached one
  std::uint64_t connections_opened = 0;

  double jobs_per_second() const;  // finished jobs (any final state) per second
  nlohmann::json to_json() const;
};

// Runs the load to completion (count reached or duration over, and every job in flight
// accounted for). Throws std::invalid_argument on a bad URL or options.
LoadReport run_load(const ClientOptions& client, const LoadOptions& options,
                    const std::function<void(const LoadSnapshot&)>& on_progress = {});

// The outcome key of a job from the last answer about it (see LoadReport::outcomes).
std::string classify_outcome(const Reply& reply);

}  // namespace jobd::client
