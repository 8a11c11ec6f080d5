// The JobTable unit tests' fixture: two kinds, a fixed clock origin, and helpers that add a
// job and build outcomes (job_table_test.cpp, job_table_watch_test.cpp).
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

#include "jobs/job_table.hpp"
#include "jobs/record.hpp"
#include "kinds/builtin.hpp"

namespace jobd::testing {

using namespace std::chrono_literals;

class JobTableTest : public ::testing::Test {
 protected:
  kinds::Kind echo = kinds::make_echo_kind();
  kinds::Kind sleep = kinds::make_sleep_kind();
  jobs::Clock::time_point t0 = jobs::Clock::now();

  const jobs::Job& add(jobs::JobTable& table, const kinds::Kind& kind,
                       std::optional<std::string> key = std::nullopt) {
    return table.create(kind, proto::Executor::loop, "{}", 1s, std::move(key), t0);
  }
  static nlohmann::json record(const jobs::Job& job) {
    return nlohmann::json::parse(jobs::render_record(job));
  }
  static proto::Outcome succeeded(nlohmann::json result) {
    return proto::Outcome::success(std::move(result));
  }
  static proto::Outcome ended(proto::JobState state, std::string_view type, std::string message = "x") {
    return proto::Outcome::failure(type, std::move(message), state);
  }
};

}  // namespace jobd::testing
