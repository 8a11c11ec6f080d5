// Pure parts of the Redis job model: a job hash's fields to a RedisJob, and INFO's text to a
// ServerCheck. No I/O, so unit tests can feed them replies built by hand.
#pragma once

#include <optional>
#include <string_view>

#include "store/redis/reply.hpp"
#include "store/redis_jobs_types.hpp"

namespace jobd::store {

// HGETALL's flat [field, value, ...] array; nullopt when it is empty or not a job.
std::optional<RedisJob> job_from_hash(const redis::Reply& fields);

// INFO's "key:value" lines and CONFIG GET appendfsync's value ("" when CONFIG is disabled).
ServerCheck assess_server(std::string_view info, std::string_view appendfsync);

}  // namespace jobd::store
