// add_process_metrics (server/metrics/process_metrics.cpp): the process_* metrics read from
// /proc/self for this very test process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <unistd.h>

#include "metrics/registry.hpp"
#include "metrics_text.hpp"

namespace jobd::metrics {
namespace {

using ::testing::HasSubstr;

TEST(MetricsProcess, ProcessMetricsArePlausibleAndOpenFdsTracksNewFds) {
  Registry reg;
  add_process_metrics(reg);
  const std::string before = reg.expose();
  EXPECT_THAT(before, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
  EXPECT_GT(sample_value(before, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(sample_value(before, "process_cpu_seconds_total"), 0);
  const double now = static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  const double start = sample_value(before, "process_start_time_seconds");
  EXPECT_LE(start, now + 2);  // btime is whole seconds
  EXPECT_GT(start, now - 3600);

  const double fds = sample_value(before, "process_open_fds");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  EXPECT_EQ(sample_value(reg.expose(), "process_open_fds"), fds + 2);
  close(p[0]);
  close(p[1]);
}

}  // namespace
}  // namespace jobd::metrics
