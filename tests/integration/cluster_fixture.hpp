// What the tests of replicas on one Redis share (cluster_test.cpp, cluster_retention_test.cpp).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"
#include "redis_server.hpp"

namespace jobd::testing {

// A jobd replica named `name` on `redis` (its TCP address unless `uri` says otherwise), with a
// 1 s lease so a lost replica's jobs are reclaimed within a test, and `extra` flags.
inline std::unique_ptr<JobdProcess> replica(const RedisServer& redis, const std::string& name,
                                            const std::vector<std::string>& extra = {"--test-kinds"},
                                            const std::string& uri = "") {
  std::vector<std::string> args{
      "--store", uri.empty() ? redis.tcp_uri() : uri, "--replica-id", name, "--redis-lease", "1s"};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<JobdProcess>(std::move(args));
}

// The job's state as the replica on `port` reads it; "" when it answers anything but 200.
inline std::string state_on(std::uint16_t port, const std::string& id) {
  const auto response = get(port, "/v1/jobs/" + id);
  return response.status == 200 ? response.json()["state"].get<std::string>() : "";
}

}  // namespace jobd::testing
