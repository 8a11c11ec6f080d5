// The job record as text (jobs/record.hpp) against the DOM-built record it replaced: for jobs
// in every state, on every executor, with unicode, escapes and executor fields, the text is
// the same JSON value as the old to_json(job).dump(), and byte for byte what nlohmann's
// serializer writes for those fields in their order.
#include <gtest/gtest.h>

#include <ctime>
#include <deque>

#include "jobs/job_table.hpp"
#include "jobs/record.hpp"
#include "kinds/kind.hpp"

using namespace jobd;
using namespace jobd::jobs;
using namespace std::chrono_literals;
using nlohmann::json;
using proto::JobState;

namespace {

constexpr auto kReplace = json::error_handler_t::replace;

// The RFC 3339 formatting the records used before (gmtime_r and strftime).
std::string strftime_rfc3339(Clock::time_point time) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(ms % 1000));
  return text;
}

// What a case fed the table, kept as DOMs for the reference.
struct Case {
  std::string name;
  const Job* job = nullptr;
  json params;
  json result;
  json details = json::object();  // the executor fields, merged as the old table merged them
};

// The record as jobs::to_json built it before records were text (a DOM, members in key order).
json legacy_record(const Case& c) {
  const Job& job = *c.job;
  json out = {{"id", job.id},
              {"kind", job.kind->name},
              {"executor", proto::to_string(job.executor)},
              {"state", proto::to_string(job.visible_state())},
              {"params", c.params},
              {"created_at", strftime_rfc3339(job.created_at)}};
  if (job.timeout.count() > 0) out["timeout_ms"] = job.timeout.count();
  // Added with retries (issue 13), after the DOM record was gone.
  out["max_attempts"] = job.max_attempts;
  out["attempt"] = job.attempt;
  if (auto started = job.visible_started_at()) out["started_at"] = strftime_rfc3339(*started);
  if (job.finished_at) out["finished_at"] = strftime_rfc3339(*job.finished_at);
  if (job.progress > 0.0 && !proto::is_final(job.state)) out["progress"] = job.progress;
  if (job.state == JobState::succeeded) out["result"] = c.result;
  if (job.error) out["error"] = {{"type", job.error->type}, {"message", job.error->message}};
  if (job.idempotency_key) out["idempotency_key"] = *job.idempotency_key;
  for (const auto& [key, value] : c.details.items()) out[key] = value;
  return out;
}

kinds::Kind named(std::string name) {
  kinds::Kind kind;
  kind.name = std::move(name);
  return kind;
}

class RecordTest : public ::testing::Test {
 protected:
  kinds::Kind echo = named("echo");
  kinds::Kind unicode = named("réсумé \"quoted\"");
  JobTable table{{}};
  Clock::time_point t0 = Clock::time_point(std::chrono::milliseconds(1764172882123));
  std::deque<Case> cases;  // stable references while more are added

  Case& add(std::string name, const kinds::Kind& kind, proto::Executor executor, json params,
            std::chrono::milliseconds timeout = 5s, std::optional<std::string> key = std::nullopt) {
    const Job& job = table.create(kind, executor, to_json_text(params), timeout, std::move(key), t0);
    cases.push_back({std::move(name), &job, std::move(params), nullptr});
    return cases.back();
  }
  void start(Case& c, json details, std::chrono::milliseconds after = 7ms) {
    for (const auto& [key, value] : details.items()) c.details[key] = value;
    table.start(c.job->seq, std::move(details), t0 + after);
  }
  void finish(Case& c, proto::Outcome outcome, std::chrono::milliseconds after = 1999ms) {
    if (outcome.ok()) c.result = outcome.result;
    for (const auto& [key, value] : outcome.details.items()) c.details[key] = value;
    table.finish(c.job->seq, std::move(outcome), t0 + after);
  }

  // One job per state and executor, with the awkward strings records must carry.
  void add_every_case() {
    const json awkward = {{"text", "ünïcödé ✓ \"quotes\" \\back\\ \n\t\x01 \x7f"},
                          {"nested", {{"list", {1, 2.5, -3e-7, true, nullptr}}, {"empty", json::object()}}},
                          {"big", 9007199254740993ULL}};
    add("queued loop job", echo, proto::Executor::loop, {{"hello", "world"}});
    add("queued without a timeout", echo, proto::Executor::loop, json::object(), 0ms);
    add("queued with an idempotency key", echo, proto::Executor::loop, {{"a", 1}}, 5s, "order-42");
    // A thread job shows as running as soon as its pool thread says so.
    Case& thread = add("thread job running through its control", unicode, proto::Executor::thread, awkward);
    thread.job->control->started_ns.store(
        std::chrono::duration_cast<std::chrono::nanoseconds>((t0 + 3ms).time_since_epoch()).count());
    Case& progressing = add("running with progress", echo, proto::Executor::thread, {{"n", 1}});
    start(progressing, nullptr);
    table.progress(progressing.job->seq, 0.3, "a third");
    Case& worker = add("process job running", echo, proto::Executor::process, {{"n", 2}});
    start(worker, {{"worker_pid", 4242}});
    Case& succeeded = add("succeeded with the params as result", echo, proto::Executor::loop, awkward);
    start(succeeded, nullptr);
    finish(succeeded, proto::Outcome::success(awkward));
    Case& null_result = add("succeeded with null", echo, proto::Executor::loop, {{"x", nullptr}});
    finish(null_result, proto::Outcome::success(nullptr));
    Case& failed = add("failed with an awkward message", unicode, proto::Executor::thread, {{"n", 3}});
    start(failed, nullptr);
    finish(failed,
           proto::Outcome::failure("kind-failed", "bad \"input\": ✗\n\ttab \x02 and \xff\xfe invalid"));
    Case& cancelled = add("cancelled before it started", echo, proto::Executor::loop, {{"n", 4}});
    finish(cancelled, proto::Outcome::failure("cancelled", "cancelled by request", JobState::cancelled));
    Case& timed_out = add("timed out in a worker", echo, proto::Executor::process, {{"n", 5}});
    start(timed_out, {{"worker_pid", 77}});
    finish(timed_out, proto::Outcome::failure("timed-out", "deadline exceeded", JobState::timed_out));
    Case& exited = add("subprocess that exited", echo, proto::Executor::subprocess, {{"input", "a b\n"}});
    start(exited, {{"pid", 1234}});
    proto::Outcome exit_outcome = proto::Outcome::success(json::object());
    exit_outcome.details = {{"pid", 1234},
                            {"exit_code", 0},
                            {"duration_ms", 12},
                            {"cpu_ms", 3},
                            {"truncated", {{"stdout", false}, {"stderr", true}}},
                            {"stdout", "2 lines\nwith ünïcode ✓\n"},
                            {"stderr", ""}};
    finish(exited, std::move(exit_outcome));
    Case& killed = add("subprocess killed by a signal", echo, proto::Executor::subprocess, {{"n", 6}});
    proto::Outcome kill_outcome = proto::Outcome::failure("exit-status", "killed by SIGKILL");
    kill_outcome.details = {{"signal", "SIGKILL"}, {"stdout_base64", "/w=="}, {"pid", 99}};
    finish(killed, std::move(kill_outcome));
  }
};

}  // namespace

TEST_F(RecordTest, IsTheSameJsonAsTheDomRecordForEveryStateAndExecutor) {
  add_every_case();
  for (const Case& c : cases) {
    const std::string text = render_record(*c.job);
    const json legacy = json::parse(legacy_record(c).dump(-1, ' ', false, kReplace));
    EXPECT_EQ(json::parse(text), legacy) << c.name << "\n" << text;
  }
}

TEST_F(RecordTest, IsByteForByteWhatNlohmannWritesForItsFieldOrder) {
  add_every_case();
  for (const Case& c : cases) {
    const std::string text = render_record(*c.job);
    EXPECT_EQ(nlohmann::ordered_json::parse(text).dump(-1, ' ', false, kReplace), text) << c.name;
  }
}

TEST_F(RecordTest, FieldsComeInAFixedOrderWithExecutorFieldsLast) {
  Case& c = add("subprocess", echo, proto::Executor::subprocess, {{"n", 1}}, 5s, "key");
  start(c, {{"pid", 5}});
  proto::Outcome outcome = proto::Outcome::success(7);
  outcome.details = {{"stdout", "x"}, {"exit_code", 0}};
  finish(c, std::move(outcome));
  std::vector<std::string> keys;
  const auto record = nlohmann::ordered_json::parse(render_record(*c.job));
  for (const auto& [key, value] : record.items()) keys.push_back(key);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"id", "kind", "executor", "state", "params", "created_at", "timeout_ms",
                                      "max_attempts", "attempt", "started_at", "finished_at", "result",
                                      "idempotency_key", "exit_code", "pid", "stdout"}));
}

TEST_F(RecordTest, ASummaryLeavesOutParamsResultAndOutputAndKeepsNumbersAndBooleans) {
  add_every_case();
  for (const Case& c : cases) {
    const json full = json::parse(render_record(*c.job));
    const json summary = json::parse(render_record(*c.job, {.fields = RecordFields::summary}));
    json expected = full;
    for (const auto& [key, value] : full.items()) {
      const bool kept = key == "error" || key == "id" || key == "kind" || key == "executor" ||
                        key == "state" || key == "idempotency_key" || key.ends_with("_at") ||
                        (key != "params" && key != "result" && (value.is_number() || value.is_boolean()));
      if (!kept) expected.erase(key);
    }
    EXPECT_EQ(summary, expected) << c.name;
    EXPECT_FALSE(summary.contains("params")) << c.name;
    EXPECT_FALSE(summary.contains("stdout")) << c.name;
  }
  const Case& exited = cases[11];
  ASSERT_EQ(exited.name, "subprocess that exited");
  const json summary = json::parse(render_record(*exited.job, {.fields = RecordFields::summary}));
  EXPECT_EQ(summary["exit_code"], 0);
  EXPECT_EQ(summary["pid"], 1234);
  EXPECT_FALSE(summary.contains("truncated"));
}

TEST_F(RecordTest, AStateFrameCarriesTheEventsStateAndTime) {
  Case& c = add("finished", echo, proto::Executor::loop, {{"n", 1}});
  finish(c, proto::Outcome::success(1));
  const auto text = render_record(*c.job, {.state = JobState::queued, .at = t0});
  json expected = json::parse(legacy_record(c).dump());
  expected["state"] = "queued";
  expected["at"] = strftime_rfc3339(t0);
  EXPECT_EQ(json::parse(text), expected);
  EXPECT_TRUE(text.ends_with(",\"at\":\"" + strftime_rfc3339(t0) + "\"}")) << text;
}

TEST_F(RecordTest, AnExecutorFieldNeverShadowsARecordField) {
  Case& c = add("shadowing", echo, proto::Executor::process, {{"n", 1}});
  start(c, {{"state", "hacked"}, {"worker_pid", 1}});
  const json record = json::parse(render_record(*c.job));
  EXPECT_EQ(record["state"], "running");
  EXPECT_EQ(record["worker_pid"], 1);
}

TEST(JsonString, EscapesExactlyAsNlohmannDoes) {
  const std::string samples[] = {"",
                                 "plain ascii 0123 ~!@#$%^&*()",
                                 "quote \" backslash \\ slash /",
                                 std::string("nul \0 and \x1f and \x7f", 17),
                                 "\b\f\n\r\t",
                                 "ünïcödé ✓ 𝄞",
                                 "invalid \xff\xfe utf-8 \xc3",
                                 "truncated \xe2\x9c"};
  for (const auto& sample : samples) {
    std::string out;
    append_json_string(out, sample);
    EXPECT_EQ(out, json(sample).dump(-1, ' ', false, kReplace)) << sample;
  }
}

TEST(JsonText, IsWhatDumpWritesAndHoldsNoSlack) {
  // to_json_text renders through one serializer kept per thread (no allocation of its own):
  // the text must be dump()'s, whatever came before it (an invalid string left no state).
  const json samples[] = {
      json::object(),
      json::array(),
      json{{"hello", "world"}, {"n", 1}, {"f", 0.1}, {"neg", -7}, {"big", 18446744073709551615ull}},
      json{{"deep", {{"a", json::array({1, 2.5, "x", nullptr, true})}}}},
      json("invalid \xff\xfe utf-8 \xc3"),
      json{{"after invalid", "ünïcödé ✓"}},
      json(std::string(100000, 'x'))};
  for (const auto& sample : samples) {
    const std::string text = to_json_text(sample);
    EXPECT_EQ(text, sample.dump(-1, ' ', false, kReplace));
    EXPECT_LE(text.capacity(), std::max<std::size_t>(text.size(), 15));
  }
}

TEST(Rfc3339, MatchesStrftimeAcrossYearsLeapDaysAndMilliseconds) {
  std::uint64_t random = 88172645463325252ULL;
  for (int i = 0; i < 20000; ++i) {
    random ^= random << 13, random ^= random >> 7, random ^= random << 17;
    // 1970 to 2255 (a system_clock time point counts nanoseconds in 64 bits), to the millisecond.
    const auto time = Clock::time_point(std::chrono::milliseconds(random % 9'000'000'000'000ULL));
    ASSERT_EQ(format_rfc3339(time), strftime_rfc3339(time));
  }
  const auto leap = Clock::time_point(std::chrono::milliseconds(951782400999));  // 2000-02-29T00:00:00.999Z
  EXPECT_EQ(format_rfc3339(leap), "2000-02-29T00:00:00.999Z");
}
