#include "output.hpp"

#include <gtest/gtest.h>

using namespace jobd::jobctl;

TEST(FormatTable, AlignsColumns) {
  EXPECT_EQ(format_table({"A", "LONG"}, {{"xyz", "1"}, {"q", "22"}}),
            "A    LONG\n"
            "xyz  1\n"
            "q    22\n");
}

TEST(FormatJob, ShowsTheFieldsUsersLookAtAndTheRest) {
  const nlohmann::json record = {{"id", "j1"},
                                 {"kind", "echo"},
                                 {"executor", "loop"},
                                 {"state", "failed"},
                                 {"created_at", "2025-01-01T00:00:00.000Z"},
                                 {"started_at", "2025-01-01T00:00:01.000Z"},
                                 {"finished_at", "2025-01-01T00:00:01.250Z"},
                                 {"error", {{"type", "kind-failed"}, {"message", "boom"}}},
                                 {"exit_code", 3},
                                 {"stdout", "a\nb"}};
  const std::string text = format_job(record);
  EXPECT_NE(text.find("state       failed\n"), std::string::npos) << text;
  EXPECT_NE(text.find("took        250.0 ms\n"), std::string::npos) << text;
  EXPECT_NE(text.find("error       kind-failed: boom\n"), std::string::npos) << text;
  EXPECT_NE(text.find("exit_code   3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("stdout      a\n            b\n"), std::string::npos) << text;
}

TEST(FormatEvent, NamesEachKindOfEvent) {
  using jobd::client::SseEvent;
  EXPECT_EQ(format_event(SseEvent{"progress", "1", R"({"fraction":0.5,"text":"sieving"})"}),
            "progress  50.0%  sieving");
  EXPECT_EQ(format_event(SseEvent{"stdout", "2", R"({"line":"hello"})"}), "stdout    hello");
  EXPECT_EQ(format_event(SseEvent{"state", "3", R"({"state":"succeeded","result":{"count":168}})"}),
            R"(state     succeeded  result {"count":168})");
  EXPECT_EQ(format_event(SseEvent{"other", "4", "x"}), "other     x");
}

TEST(FormatMs, PicksAReadableUnit) {
  EXPECT_EQ(format_ms(0.25), "250 us");
  EXPECT_EQ(format_ms(1.234), "1.23 ms");
  EXPECT_EQ(format_ms(123.4), "123.4 ms");
  EXPECT_EQ(format_ms(2500), "2.50 s");
}

TEST(FormatBenchReport, ListsOutcomesAndPercentiles) {
  jobd::client::LoadReport report;
  report.submitted = 3;
  report.accepted = 2;
  report.succeeded = 2;
  report.not_succeeded = 1;
  report.outcomes = {{"succeeded", 2}, {"refused: HTTP 429 queue-full", 1}};
  report.latency.record_ns(1'000'000);
  report.latency.record_ns(2'000'000);
  report.elapsed = std::chrono::seconds(1);
  const std::string text = format_bench_report(report, "title");
  for (const char* part : {"refused: HTTP 429 queue-full  1", "p99.9", "max", "distribution", "2.0 jobs/s"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part << "\n" << text;
  }
}

TEST(FormatJob, ShowsTheAttemptRunAtAndEarlierAttempts) {
  const nlohmann::json waiting = {{"id", "j1"},
                                  {"state", "queued"},
                                  {"max_attempts", 3},
                                  {"attempt", 2},
                                  {"run_at", "2025-01-01T00:00:02.000Z"},
                                  {"attempts",
                                   {{{"attempt", 1},
                                     {"type", "crashed"},
                                     {"message", "worker killed by SIGSEGV"},
                                     {"finished_at", "2025-01-01T00:00:01.000Z"}}}}};
  const std::string text = format_job(waiting);
  EXPECT_NE(text.find("state       queued\nattempt     2/3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("run_at      2025-01-01T00:00:02.000Z\n"), std::string::npos) << text;
  EXPECT_NE(text.find("attempt 1   crashed: worker killed by SIGSEGV (at 2025-01-01T00:00:01.000Z)\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("max_attempts"), std::string::npos) << text;
  // A job that runs once shows no attempt line.
  const std::string once =
      format_job({{"id", "j2"}, {"state", "queued"}, {"max_attempts", 1}, {"attempt", 1}});
  EXPECT_EQ(once.find("attempt"), std::string::npos) << once;
}

TEST(FormatEvent, ARetryShowsItsAttemptAndWhenItRuns) {
  using jobd::client::SseEvent;
  EXPECT_EQ(format_event(SseEvent{
                "state", "5",
                R"({"state":"queued","max_attempts":3,"attempt":2,"run_at":"2025-01-01T00:00:02.000Z"})"}),
            "state     queued  attempt 2/3  run_at 2025-01-01T00:00:02.000Z");
  EXPECT_EQ(format_event(SseEvent{"state", "6", R"({"state":"running","max_attempts":1,"attempt":1})"}),
            "state     running");
}
