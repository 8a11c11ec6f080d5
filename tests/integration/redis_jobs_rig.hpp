// What the Redis job model's tests share: a real redis-server, a loop, the two connections the
// model uses (commands, blocking claims) and a RedisJobs over them; and a JobRow to submit.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "store/redis/connection.hpp"
#include "store/redis_jobs.hpp"

namespace jobd::testing {

inline std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline store::JobRow job_row(std::string id, proto::Executor executor = proto::Executor::thread,
                             std::uint32_t max_attempts = 1) {
  store::JobRow row;
  row.id = std::move(id);
  row.kind = "echo";
  row.executor = executor;
  row.params_json = R"({"message":"hi"})";
  row.timeout_ms = 5000;
  row.created_at_ms = wall_ms();
  row.max_attempts = max_attempts;
  return row;
}

struct RedisJobsRig {
  explicit RedisJobsRig(std::vector<std::string> server_args = {}, store::RedisJobsOptions options = {})
      : server(std::move(server_args)),
        commands(loop.io.get_executor(), server.options()),
        claims(loop.io.get_executor(), server.options()),
        jobs(commands, claims, std::move(options)) {
    commands.start();
    claims.start();
    if (loop.await(commands.wait_ready(std::chrono::seconds(5))) ||
        loop.await(claims.wait_ready(std::chrono::seconds(5))))
      throw std::runtime_error("Redis not ready");
  }

  store::Submitted submit(store::JobRow row) {
    auto result = loop.await(jobs.submit(std::move(row)));
    if (!result.ok()) throw std::runtime_error("submit: " + result.detail);
    return result.value;
  }
  std::vector<store::RedisJob> claim(std::string consumer, std::size_t count,
                                     std::chrono::milliseconds block = std::chrono::milliseconds(0)) {
    auto result =
        loop.await(jobs.claim(proto::Executor::thread, std::move(consumer), count, block, wall_ms()));
    if (!result.ok()) throw std::runtime_error("claim: " + result.detail);
    return std::move(result.value);
  }
  store::RedisJob get(std::string id) {
    auto result = loop.await(jobs.get(std::move(id)));
    if (!result.ok() || !result.value) throw std::runtime_error("get: no job " + result.detail);
    return std::move(*result.value);
  }
  std::int64_t stream_length() const {
    return server.admin({"XLEN", "jobd:q:thread"}).as_integer().value_or(-1);
  }

  RedisServer server;
  TestLoop loop;
  store::redis::RedisConnection commands;
  store::redis::RedisConnection claims;
  store::RedisJobs jobs;
};

}  // namespace jobd::testing
