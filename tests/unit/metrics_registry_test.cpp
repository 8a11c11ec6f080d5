// Unit tests for jobd::metrics' registry (server/metrics/registry.hpp): counters, gauges,
// histograms and callbacks, what they expose, registration errors, and updates from threads.
// The text format itself is tested in metrics_exposition_test.cpp.
//
// Timing: ./jobd_unit_tests --gtest_also_run_disabled_tests --gtest_filter='*NsPerOp*'
// (build with -O2 for numbers worth quoting).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <latch>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "metrics/registry.hpp"
#include "metrics_text.hpp"

namespace jobd::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ------------------------------------------------------------ counters/gauges

TEST(MetricsCounter, LabelledChildrenAreExposedOnePerLabelTupleWithHelpAndType) {
  Registry reg;
  auto& c = reg.counter("jobd_http_requests_total", "HTTP requests by route and status", {"route", "status"});
  c.with({"/v1/jobs", "202"}).inc();
  c.with({"/v1/jobs", "202"}).inc();
  c.with({"/v1/jobs", "404"}).inc(3);

  EXPECT_EQ(reg.expose(),
            "# HELP jobd_http_requests_total HTTP requests by route and status\n"
            "# TYPE jobd_http_requests_total counter\n"
            "jobd_http_requests_total{route=\"/v1/jobs\",status=\"202\"} 2\n"
            "jobd_http_requests_total{route=\"/v1/jobs\",status=\"404\"} 3\n");
}

TEST(MetricsCounter, ChildReferenceStaysValidWhenMoreChildrenAreCreated) {
  Registry reg;
  auto& fam = reg.counter("jobd_things_total", "things", {"kind"});
  Counter& first = fam.with({"a"});
  for (int i = 0; i < 1000; ++i) fam.with({"k" + std::to_string(i)});
  first.inc();
  EXPECT_EQ(&fam.with({"a"}), &first);
  EXPECT_EQ(fam.with({"a"}).value(), 1);
}

TEST(MetricsCounter, WholeAndFractionalIncrementsAddUpAndNegativeOnesAreDropped) {
  Registry reg;
  Counter& c = reg.counter("jobd_cpu_total", "cpu").with();
  c.inc();
  c.inc(0.25);
  c.inc(-5);
  c.inc(kNaN);
  EXPECT_EQ(c.value(), 1.25);
}

TEST(MetricsCounter, UnlabelledCounterIsExposedAsZeroBeforeFirstIncrement) {
  Registry reg;
  reg.counter("jobd_started_total", "started");
  EXPECT_THAT(reg.expose(), HasSubstr("\njobd_started_total 0\n"));
}

TEST(MetricsCounter, LabelledFamilyWithoutChildrenIsLeftOut) {
  Registry reg;
  reg.counter("jobd_unused_total", "unused", {"route"});
  EXPECT_EQ(reg.expose(), "");
}

TEST(MetricsCounter, WrongNumberOfLabelValuesThrows) {
  Registry reg;
  auto& c = reg.counter("jobd_x_total", "x", {"a", "b"});
  EXPECT_THROW(c.with({"only-one"}), std::invalid_argument);
  EXPECT_THROW(c.with({"1", "2", "3"}), std::invalid_argument);
  EXPECT_EQ(reg.expose(), "");  // nothing half-created
}

TEST(MetricsGauge, SetIncAndDecAreExposed) {
  Registry reg;
  Gauge& g = reg.gauge("jobd_jobs_running", "running jobs").with();
  g.set(10);
  g.inc();
  g.dec(2.5);
  EXPECT_EQ(g.value(), 8.5);
  EXPECT_THAT(reg.expose(), HasSubstr("# TYPE jobd_jobs_running gauge\njobd_jobs_running 8.5\n"));
}

TEST(MetricsRegistry, FamiliesAreExposedSortedByName) {
  Registry reg;
  reg.gauge("b_metric", "b");
  reg.gauge("a_metric", "a");
  reg.gauge("c_metric", "c");
  const std::string text = reg.expose();
  EXPECT_LT(text.find("a_metric"), text.find("b_metric"));
  EXPECT_LT(text.find("b_metric"), text.find("c_metric"));
}

// ------------------------------------------------------------ histograms

TEST(MetricsHistogram, BucketsAreCumulativeAndSumAndCountAreCorrect) {
  Registry reg;
  auto& h = reg.histogram("jobd_job_seconds", "job duration", {0.1, 1, 10}, {"queue"});
  Histogram& q = h.with({"default"});
  for (double v : {0.05, 0.1, 0.5, 2.0, 20.0, 30.0}) q.observe(v);

  EXPECT_EQ(q.count(), 6u);
  EXPECT_DOUBLE_EQ(q.sum(), 52.65);
  EXPECT_EQ(q.cumulative_counts(), (std::vector<std::uint64_t>{2, 3, 4, 6}));
  const std::string text = reg.expose();
  EXPECT_THAT(text, HasSubstr("# TYPE jobd_job_seconds histogram\n"
                              "jobd_job_seconds_bucket{queue=\"default\",le=\"0.1\"} 2\n"
                              "jobd_job_seconds_bucket{queue=\"default\",le=\"1\"} 3\n"
                              "jobd_job_seconds_bucket{queue=\"default\",le=\"10\"} 4\n"
                              "jobd_job_seconds_bucket{queue=\"default\",le=\"+Inf\"} 6\n"
                              "jobd_job_seconds_sum{queue=\"default\"} "));
  EXPECT_DOUBLE_EQ(sample_value(text, "jobd_job_seconds_sum{queue=\"default\"}"), 52.65);
  EXPECT_THAT(text, HasSubstr("\njobd_job_seconds_count{queue=\"default\"} 6\n"));
}

TEST(MetricsHistogram, ValueEqualToABoundCountsInThatBucketAndNaNIsDropped) {
  Registry reg;
  Histogram& h = reg.histogram("h_seconds", "h", {1, 2}).with();
  h.observe(1.0);  // le is "less than or equal"
  h.observe(kInf);
  h.observe(kNaN);
  EXPECT_EQ(h.cumulative_counts(), (std::vector<std::uint64_t>{1, 1, 2}));
  EXPECT_EQ(h.count(), 2u);
}

TEST(MetricsHistogram, UnlabelledHistogramHasOnlyLeLabel) {
  Registry reg;
  reg.histogram("h_seconds", "h", {0.5}).with().observe(0.2);
  EXPECT_THAT(reg.expose(), HasSubstr("h_seconds_bucket{le=\"0.5\"} 1\n"
                                      "h_seconds_bucket{le=\"+Inf\"} 1\n"
                                      "h_seconds_sum 0.2\n"
                                      "h_seconds_count 1\n"));
}

TEST(MetricsHistogram, ExponentialAndLinearBucketHelpers) {
  EXPECT_EQ(exponential_buckets(0.001, 10, 4), (std::vector<double>{0.001, 0.01, 0.1, 1}));
  EXPECT_EQ(exponential_buckets(1, 2, 5), (std::vector<double>{1, 2, 4, 8, 16}));
  EXPECT_EQ(linear_buckets(0, 0.5, 3), (std::vector<double>{0, 0.5, 1}));
  EXPECT_THROW(exponential_buckets(0, 2, 3), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, 1, 3), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, 2, 0), std::invalid_argument);
  EXPECT_THROW(linear_buckets(0, 0, 3), std::invalid_argument);
}

TEST(MetricsHistogram, BadBoundsAndLeLabelAreRejectedAndTrailingInfIsAccepted) {
  Registry reg;
  EXPECT_THROW(reg.histogram("a_seconds", "a", {1, 1}), std::invalid_argument);
  EXPECT_THROW(reg.histogram("b_seconds", "b", {2, 1}), std::invalid_argument);
  EXPECT_THROW(reg.histogram("c_seconds", "c", {1, kNaN}), std::invalid_argument);
  EXPECT_THROW(reg.histogram("d_seconds", "d", {1}, {"le"}), std::invalid_argument);
  auto& e = reg.histogram("e_seconds", "e", {1, kInf});
  EXPECT_EQ(e.with().bounds(), std::vector<double>{1});
}

// ------------------------------------------------------------ callbacks

TEST(MetricsCallback, GaugeValueIsComputedAtScrapeTime) {
  Registry reg;
  int depth = 3;
  reg.callback_gauge("jobd_queue_depth", "queued jobs", {"queue"}).with({"default"}).set([&depth] {
    return static_cast<double>(depth);
  });
  EXPECT_THAT(reg.expose(), HasSubstr("jobd_queue_depth{queue=\"default\"} 3\n"));
  depth = 7;
  EXPECT_THAT(reg.expose(), HasSubstr("jobd_queue_depth{queue=\"default\"} 7\n"));
}

TEST(MetricsCallback, CallbackCounterHasCounterTypeAndUnsetCallbackIsLeftOut) {
  Registry reg;
  reg.callback_counter("jobd_cb_total", "cb").with().set([] { return 5.0; });
  reg.callback_gauge("jobd_unset", "never set");
  const std::string text = reg.expose();
  EXPECT_THAT(text, HasSubstr("# TYPE jobd_cb_total counter\njobd_cb_total 5\n"));
  EXPECT_THAT(text, Not(HasSubstr("jobd_unset")));
}

// ------------------------------------------------------------ registration

TEST(MetricsRegistration, InvalidMetricNamesAreRejected) {
  Registry reg;
  for (const char* bad : {"", "1abc", "a-b", "a b", "a.b", "__reserved", "é"})
    EXPECT_THROW(reg.counter(bad, "h"), std::invalid_argument) << bad;
  EXPECT_NO_THROW(reg.counter("ok:name_1", "h"));
  EXPECT_NO_THROW(reg.gauge("_leading_underscore", "h"));
}

TEST(MetricsRegistration, InvalidOrDuplicateLabelNamesAreRejected) {
  Registry reg;
  for (const char* bad : {"", "1a", "a:b", "a-b", "__name__"})
    EXPECT_THROW(reg.counter("m_total", "h", {bad}), std::invalid_argument) << bad;
  EXPECT_THROW(reg.counter("m_total", "h", {"a", "a"}), std::invalid_argument);
  EXPECT_NO_THROW(reg.counter("m_total", "h", {"a", "_b2"}));
}

TEST(MetricsRegistration, DuplicateAndClashingNamesAreRejected) {
  Registry reg;
  reg.counter("jobd_a_total", "a");
  EXPECT_THROW(reg.gauge("jobd_a_total", "again"), std::invalid_argument);
  reg.histogram("jobd_latency_seconds", "l", {1});
  EXPECT_THROW(reg.gauge("jobd_latency_seconds_count", "clash"), std::invalid_argument);
  reg.gauge("jobd_b_sum", "b");
  EXPECT_THROW(reg.histogram("jobd_b", "clash", {1}), std::invalid_argument);
  // A failed registration leaves nothing behind: jobd_b is still free.
  EXPECT_NO_THROW(reg.gauge("jobd_b", "fine"));
}

// ------------------------------------------------------------ threads

TEST(MetricsConcurrency, IncrementsFromFourThreadsSumExactly) {
  Registry reg;
  Counter& whole = reg.counter("c_total", "c").with();
  Counter& half = reg.counter("h_total", "h").with();
  Gauge& gauge = reg.gauge("g", "g").with();
  Histogram& hist = reg.histogram("x_seconds", "x", {1, 5}).with();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100000;
  std::latch start(kThreads);  // make the threads really overlap
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        whole.inc();
        half.inc(0.5);  // exact in binary, so the double sum must be exact too
        gauge.inc();
        hist.observe(i % 10);
      }
    });
  }
  for (auto& t : threads) t.join();
  constexpr double n = double{kThreads} * kPerThread;
  EXPECT_EQ(whole.value(), n);
  EXPECT_EQ(half.value(), n / 2);
  EXPECT_EQ(gauge.value(), n);
  EXPECT_EQ(hist.count(), static_cast<std::uint64_t>(n));
  EXPECT_EQ(hist.sum(), 4.5 * n);  // mean of 0..9
  EXPECT_EQ(hist.cumulative_counts(),
            (std::vector<std::uint64_t>{static_cast<std::uint64_t>(n * 0.2),
                                        static_cast<std::uint64_t>(n * 0.6), static_cast<std::uint64_t>(n)}));
}

// ------------------------------------------------------------ timing

// Not a pass/fail test: prints ns/op. Disabled so normal runs stay fast.
TEST(MetricsTiming, DISABLED_PrintsNsPerOp) {
  Registry reg;
  Counter& c = reg.counter("c_total", "c").with();
  Gauge& g = reg.gauge("g", "g").with();
  Histogram& h = reg.histogram("h_seconds", "h", exponential_buckets(0.0001, 2, 16)).with();
  std::vector<double> samples(1024);  // spread across buckets: no free branch prediction
  for (std::size_t i = 0; i < samples.size(); ++i)
    samples[i] = 0.0001 * std::pow(2.0, static_cast<double>((i * 7919) % 18));
  constexpr int kOps = 20'000'000;
  const auto time = [](const char* what, auto&& op) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kOps; ++i) op(i);
    const std::chrono::duration<double, std::nano> dt = std::chrono::steady_clock::now() - t0;
    std::printf("%-34s %6.2f ns/op\n", what, dt.count() / kOps);
  };
  time("Counter::inc()", [&](int) { c.inc(); });
  time("Counter::inc(double)", [&](int) { c.inc(0.5); });
  time("Gauge::set(double)", [&](int i) { g.set(i); });
  time("Histogram::observe (16 buckets)", [&](int i) { h.observe(samples[i & 1023]); });
  const auto t0 = std::chrono::steady_clock::now();
  std::thread other([&] {
    for (int i = 0; i < kOps; ++i) c.inc();
  });
  for (int i = 0; i < kOps; ++i) c.inc();
  other.join();
  const std::chrono::duration<double, std::nano> dt = std::chrono::steady_clock::now() - t0;
  // Wall time over ops per thread: what each thread pays while they contend.
  std::printf("%-34s %6.2f ns/op\n", "Counter::inc() 2 threads, 1 child", dt.count() / kOps);
  EXPECT_GT(c.value(), 0);
}

}  // namespace
}  // namespace jobd::metrics
