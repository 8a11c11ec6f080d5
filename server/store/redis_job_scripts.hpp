// The Lua scripts of the Redis job model (redis_jobs.hpp), one per operation that must be
// atomic. Their contracts (arguments, replies) are written beside each one in the .cpp and in
// DESIGN §2 "Redis store".
#pragma once

#include <cstddef>
#include <string>

namespace jobd::store::redis_scripts {

const std::string& submit();
const std::string& start();
const std::string& renew();
const std::string& finish();
const std::string& reclaim();
const std::string& promote_due();
const std::string& cancel();
const std::string& list();
// A job's event stream (redis_event_scripts.cpp): the events of an attempt run here, and a
// page of a job's events with its hash; the hashes of jobs whose states /v1/events shows.
const std::string& append_events();
const std::string& read_events();
const std::string& job_hashes();

// The prelude (shared helpers) before `body`.
std::string with_prelude(const char* body);
// `text` with the event stream's cap (--event-history) in place of its mark.
std::string with_events_max(const std::string& text, std::size_t events_max);

}  // namespace jobd::store::redis_scripts
