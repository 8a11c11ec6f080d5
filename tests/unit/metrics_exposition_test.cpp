// The Prometheus text exposition format 0.0.4 as jobd writes it: escaping, number formatting,
// and the whole output accepted by the real parser.
//
// The *RealParser* tests pipe expose() through tests/unit/check_metrics_format.py, i.e. the real
// Prometheus parser from python3-prometheus-client; they skip, naming the package, when
// /usr/bin/python3 lacks it. Set JOBD_METRICS_CHECKER to the script's path to use another copy.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "metrics/registry.hpp"

namespace jobd::metrics {
namespace {

using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ------------------------------------------------------------ format

TEST(MetricsFormat, LabelValuesEscapeBackslashQuoteAndNewline) {
  Registry reg;
  reg.counter("jobd_x_total", "x", {"path"}).with({"a\\b\"c\nd"}).inc();
  EXPECT_THAT(reg.expose(), HasSubstr("jobd_x_total{path=\"a\\\\b\\\"c\\nd\"} 1\n"));
}

TEST(MetricsFormat, HelpEscapesBackslashAndNewlineButNotQuote) {
  Registry reg;
  reg.gauge("jobd_g", "say \"hi\"\\now\nnext line");
  EXPECT_THAT(reg.expose(), HasSubstr("# HELP jobd_g say \"hi\"\\\\now\\nnext line\n"));
}

TEST(MetricsFormat, IntegersHaveNoExponentAndSpecialValuesAreSpelledOut) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(-0.0), "0");
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(-42), "-42");
  EXPECT_EQ(format_value(1e6), "1000000");
  EXPECT_EQ(format_value(9007199254740991.0), "9007199254740991");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(2.5e-7), "2.5e-07");
  EXPECT_EQ(format_value(kInf), "+Inf");
  EXPECT_EQ(format_value(-kInf), "-Inf");
  EXPECT_EQ(format_value(kNaN), "NaN");
}

TEST(MetricsFormat, EveryFiniteValueRoundTripsThroughStrtod) {
  std::vector<double> values{
      0.1, 1.0 / 3, 1e300, -1e-300, 4.9e-324, 1.7976931348623157e308, 123456.789, 9007199254740993.0, 1e21};
  // A spread of awkward doubles from a fixed-seed LCG over the bit patterns.
  std::uint64_t x = 42;
  for (int i = 0; i < 10000; ++i) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    double d;
    static_assert(sizeof d == sizeof x);
    std::memcpy(&d, &x, sizeof d);
    if (std::isfinite(d)) values.push_back(d);
  }
  for (double v : values) {
    const std::string s = format_value(v);
    EXPECT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
  }
}

// ------------------------------------------------------------ real parser

struct CheckerResult {
  int exit_code;
  std::string output;  // stdout and stderr
};

std::string checker_path() {
  if (const char* env = std::getenv("JOBD_METRICS_CHECKER")) return env;
  return std::string(JOBD_SOURCE_DIR) + "/tests/unit/check_metrics_format.py";
}

// False when /usr/bin/python3 cannot import the real parser (tests then skip).
bool have_parser() {
  return access("/usr/bin/python3", X_OK) == 0 &&
         std::system("/usr/bin/python3 -c 'import prometheus_client.parser' >/dev/null 2>&1") == 0;
}

CheckerResult run_checker(const std::string& exposition) {
  char path[] = "/tmp/jobd_metrics_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return {-1, "mkstemp failed"};
  const bool written =
      write(fd, exposition.data(), exposition.size()) == static_cast<ssize_t>(exposition.size());
  close(fd);
  CheckerResult r{-1, ""};
  if (written) {
    const std::string cmd = "/usr/bin/python3 '" + checker_path() + "' < " + path + " 2>&1";
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[4096];
      while (const std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
      const int status = pclose(p);
      r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
  }
  unlink(path);
  return r;
}

#define REQUIRE_PARSER()                                                                           \
  do {                                                                                             \
    if (!have_parser())                                                                            \
      GTEST_SKIP() << "/usr/bin/python3 lacks prometheus_client "                                  \
                      "(apt-get install -y python3-prometheus-client); real-parser check skipped"; \
    ASSERT_EQ(access(checker_path().c_str(), R_OK), 0)                                             \
        << "checker not found at " << checker_path() << "; set JOBD_METRICS_CHECKER";              \
  } while (0)

TEST(MetricsRealParser, ExposeOutputParsesIncludingEscapedLabelValues) {
  REQUIRE_PARSER();
  Registry reg;
  auto& req =
      reg.counter("jobd_http_requests_total", "HTTP requests by route and status", {"route", "status"});
  req.with({"/v1/jobs", "202"}).inc();
  req.with({"we\"ird\\path\nx", "500"}).inc(2);
  req.with({"caf\xc3\xa9", "200"}).inc();  // UTF-8 passes through unescaped
  reg.gauge("jobd_help_escapes", "back\\slash and\nnewline, \"quotes\"").with().set(-1.5);
  auto& special = reg.gauge("jobd_special", "special values", {"v"});
  special.with({"inf"}).set(kInf);
  special.with({"nan"}).set(kNaN);
  special.with({"tiny"}).set(2.5e-7);
  auto& lat =
      reg.histogram("jobd_http_request_seconds", "latency", exponential_buckets(0.001, 4, 6), {"route"});
  for (double v : {0.0005, 0.003, 0.2, 7.0}) lat.with({"/v1/jobs"}).observe(v);
  lat.with({"a\"b"}).observe(1);
  reg.callback_gauge("jobd_queue_depth", "depth").with().set([] { return 12.0; });
  add_process_metrics(reg);

  const CheckerResult r = run_checker(reg.expose());
  ASSERT_EQ(r.exit_code, 0) << r.output << "\n--- input ---\n" << reg.expose();
  // The checker prints each parsed sample as JSON (sorted keys, ASCII), so
  // these lines show the parser decoded our escapes back to the originals.
  const auto& out = r.output;
  EXPECT_THAT(out, HasSubstr(R"({"family": "jobd_help_escapes", "help": )"
                             R"("back\\slash and\nnewline, \"quotes\"", "type": "gauge"})"));
  EXPECT_THAT(out, HasSubstr(R"({"family": "process_cpu_seconds", )"
                             R"("help": "Total user and system CPU time spent in seconds.", )"
                             R"("type": "counter"})"));  // the parser drops _total
  EXPECT_THAT(out, HasSubstr(R"({"labels": {"route": "we\"ird\\path\nx", "status": "500"}, )"
                             R"("name": "jobd_http_requests_total", "value": 2.0})"));
  EXPECT_THAT(out, HasSubstr(R"({"labels": {"route": "caf\u00e9", "status": "200"}, )"
                             R"("name": "jobd_http_requests_total", "value": 1.0})"));
  EXPECT_THAT(out, HasSubstr(R"({"v": "inf"}, "name": "jobd_special", "value": Infinity})"));
  EXPECT_THAT(out, HasSubstr(R"({"v": "nan"}, "name": "jobd_special", "value": NaN})"));
  EXPECT_THAT(out, HasSubstr(R"({"v": "tiny"}, "name": "jobd_special", "value": 2.5e-07})"));
  EXPECT_THAT(out, HasSubstr(R"({"labels": {"le": "+Inf", "route": "a\"b"}, )"
                             R"("name": "jobd_http_request_seconds_bucket", "value": 1.0})"));
  EXPECT_THAT(out, HasSubstr(R"({"labels": {"route": "/v1/jobs"}, )"
                             R"("name": "jobd_http_request_seconds_count", "value": 4.0})"));
  EXPECT_THAT(out, HasSubstr(R"("name": "process_open_fds")"));
  EXPECT_THAT(out, HasSubstr(R"("name": "jobd_queue_depth", "value": 12.0})"));
}

TEST(MetricsRealParser, CheckerRejectsBrokenExposition) {
  REQUIRE_PARSER();
  // The checker is only worth trusting if it fails on the mistakes we guard against.
  const char* broken[] = {
      // raw newline inside a label value
      "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"x\ny\"} 1\n",
      // raw newline in HELP
      "# HELP a_total x\ny\n# TYPE a_total counter\na_total 1\n",
      // buckets not cumulative
      "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
      // _count disagrees with +Inf
      "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
      // sample outside its family
      "# HELP a x\n# TYPE a gauge\nb 1\n",
      // bad value
      "# HELP a x\n# TYPE a gauge\na one\n",
  };
  for (const char* text : broken) {
    const CheckerResult r = run_checker(text);
    EXPECT_EQ(r.exit_code, 1) << "accepted:\n" << text << "\noutput: " << r.output;
  }
}

}  // namespace
}  // namespace jobd::metrics
