// What the Redis store's operations share to read a reply into a RedisResult: a transport error
// or an error reply as the result's error, a reply of the wrong shape, and a number field.
#pragma once

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>

#include "store/redis/reply.hpp"
#include "store/redis_jobs_types.hpp"

namespace jobd::store {

// Turns a transport error or an error reply into `out`'s error; true when there was one.
template <typename T>
bool failed(const std::error_code& ec, const redis::Reply& reply, RedisResult<T>& out) {
  if (ec) {
    out.error = ec;
    out.detail = ec.message();
    return true;
  }
  if (reply.is_error()) {
    out.error = RedisJobsError::script_error;
    out.detail = std::string(reply.text());
    return true;
  }
  return false;
}

template <typename T>
void unexpected(RedisResult<T>& out, const redis::Reply& reply) {
  out.error = RedisJobsError::unexpected_reply;
  out.detail = redis::describe(reply);
}

// A decimal field; 0 when it is not one (the scripts write every number they store).
template <typename N>
N number(std::string_view text) {
  N value{};
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

}  // namespace jobd::store
