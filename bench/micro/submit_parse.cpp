// submit_parse: CPU per POST /v1/jobs body, the DOM path (http::parse_json_body, then
// proto::parse_job_spec) against the text fast path (http::check_json_body, then
// proto::parse_common_job_spec), on the body bench/wrk/submit.lua sends. Thread CPU time.
//
// Run: build/bench/submit_parse [iterations=300000]
#include <time.h>

#include <cstdio>
#include <cstdlib>

#include "http/json_body.hpp"
#include "jobd/proto/job_spec.hpp"

namespace {
double thread_cpu_ns() {
  timespec at{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &at);
  return static_cast<double>(at.tv_sec) * 1e9 + static_cast<double>(at.tv_nsec);
}
}  // namespace

int main(int argc, char** argv) {
  using namespace jobd;
  const long n = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 300000;
  const std::string body = R"({"kind":"echo","params":{"hello":"world"},"executor":"loop"})";
  std::size_t sink = 0;
  for (int round = 0; round < 3; ++round) {
    const double t0 = thread_cpu_ns();
    for (long i = 0; i < n; ++i) {
      auto parsed = http::parse_json_body("application/json", body, 64);
      auto spec = proto::parse_job_spec(std::move(std::get<nlohmann::json>(parsed)));
      sink += std::get<proto::JobSpec>(spec).kind.size();
    }
    const double t1 = thread_cpu_ns();
    for (long i = 0; i < n; ++i) {
      if (http::check_json_body("application/json", body, 64)) return 1;
      auto spec = proto::parse_common_job_spec(body);
      if (!spec) return 1;
      sink += spec->kind.size();
    }
    const double t2 = thread_cpu_ns();
    std::printf("submit_parse dom_ns=%.0f text_ns=%.0f\n", (t1 - t0) / static_cast<double>(n),
                (t2 - t1) / static_cast<double>(n));
  }
  return sink == 0 ? 1 : 0;
}
