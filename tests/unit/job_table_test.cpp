#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <set>
#include <string_view>

#include "job_table_fixture.hpp"
#include "jobd/proto/rfc3339.hpp"

using namespace jobd;
using namespace jobd::jobs;
using jobd::testing::JobTableTest;
using namespace std::chrono_literals;
using proto::JobState;

TEST_F(JobTableTest, CreatedJobsAreQueuedWithUniqueUnguessableIds) {
  JobTable table({});
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const Job& job = add(table, echo);
    EXPECT_EQ(job.state, JobState::queued);
    EXPECT_EQ(job.id.size(), 32u);  // 128 random bits in hex
    ids.insert(job.id);
    EXPECT_EQ(table.get(job.id), &job);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST_F(JobTableTest, FinishIsFinalAndLateResultsAreDropped) {
  JobTable table({});
  const Job& job = add(table, echo);
  table.start(job.seq, nullptr, t0);
  EXPECT_EQ(job.state, JobState::running);
  EXPECT_TRUE(table.finish(job.seq, ended(JobState::timed_out, "timed-out", "late"), t0 + 1s));
  EXPECT_FALSE(table.finish(job.seq, succeeded(42), t0 + 2s));
  EXPECT_EQ(job.state, JobState::timed_out);
  EXPECT_EQ(job.error->type, "timed-out");
  EXPECT_EQ(job.finished_at, t0 + 1s);
}

TEST_F(JobTableTest, ThreadStartIsVisibleThroughTheControlBeforeAnyHandOff) {
  JobTable table({});
  const Job& job = add(table, echo);
  EXPECT_EQ(job.visible_state(), JobState::queued);
  job.control->started_ns.store(123456789, std::memory_order_relaxed);
  EXPECT_EQ(job.visible_state(), JobState::running);
  EXPECT_EQ(record(job)["state"], "running");
  EXPECT_TRUE(record(job).contains("started_at"));
}

TEST_F(JobTableTest, AStartThatTravelledWithTheResultIsPublishedBeforeTheEnd) {
  // A thread job nobody watched: its executor told the table only that it finished.
  JobTable table({});
  std::vector<std::pair<JobState, Clock::time_point>> heard;
  table.watch_all([&](const Job&, const JobEvent& event) { heard.emplace_back(event.state, event.at); },
                  WatchAll::recorder);
  const Job& job = add(table, echo);
  const auto started = t0 + 250ms;
  job.control->started_ns.store(
      std::chrono::duration_cast<std::chrono::nanoseconds>(started.time_since_epoch()).count());
  ASSERT_TRUE(table.finish(job.seq, succeeded(1), t0 + 1s));
  ASSERT_EQ(heard.size(), 3u);
  EXPECT_EQ(heard[1].first, JobState::running);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(heard[1].second - t0).count(), 250);
  EXPECT_EQ(heard[2].first, JobState::succeeded);
  EXPECT_EQ(job.started_at, heard[1].second);
}

TEST_F(JobTableTest, AJobStoppedBeforeItStartedHasNoRunningEvent) {
  JobTable table({});
  const Job& job = add(table, echo);
  ASSERT_TRUE(table.finish(job.seq, ended(JobState::cancelled, "cancelled"), t0 + 1s));
  ASSERT_EQ(job.history().size(), 2u);
  EXPECT_EQ(job.history()[1].state, JobState::cancelled);
  EXPECT_FALSE(job.started_at);
}

TEST_F(JobTableTest, StartAndFinishMergeExecutorDetailsIntoTheRecord) {
  JobTable table({});
  const Job& job = add(table, echo);
  table.start(job.seq, {{"worker_pid", 42}}, t0);
  proto::Outcome outcome = succeeded(7);
  outcome.details = {{"cpu_ms", 3}};
  table.finish(job.seq, std::move(outcome), t0 + 1s);
  const auto shown = record(job);
  EXPECT_EQ(shown["worker_pid"], 42);
  EXPECT_EQ(shown["cpu_ms"], 3);
  EXPECT_EQ(shown["result"], 7);
}

TEST_F(JobTableTest, MaxFinishedEvictsTheOldestFinishedJobsOnly) {
  JobTable table({.max_finished = 2, .retention = 1h});
  const Job& active = add(table, sleep);
  std::vector<std::string> finished;
  for (int i = 0; i < 3; ++i) {
    const Job& job = add(table, echo);
    finished.push_back(job.id);
    table.finish(job.seq, succeeded(i), t0 + std::chrono::seconds(i));
  }
  EXPECT_EQ(table.get(finished[0]), nullptr);
  EXPECT_NE(table.get(finished[1]), nullptr);
  EXPECT_NE(table.get(finished[2]), nullptr);
  EXPECT_NE(table.get(active.id), nullptr);  // never evicted while active
  EXPECT_EQ(table.counts().total, 3u);
}

TEST_F(JobTableTest, RetentionEvictsFinishedJobsOlderThanItAndFreesTheirKeys) {
  JobTable table({.max_finished = 100, .retention = 10s});
  const Job& old_job = add(table, echo, "key-1");
  table.finish(old_job.seq, succeeded(1), t0);
  const Job& young = add(table, echo);
  table.finish(young.seq, succeeded(2), t0 + 8s);
  const std::string old_id = old_job.id;
  EXPECT_EQ(table.evict_expired(t0 + 9s), 0u);
  EXPECT_EQ(table.evict_expired(t0 + 11s), 1u);
  EXPECT_EQ(table.get(old_id), nullptr);
  EXPECT_EQ(table.find_by_idempotency_key("key-1"), nullptr);
  EXPECT_NE(table.get(young.id), nullptr);
}

TEST_F(JobTableTest, IdempotencyKeyFindsItsJob) {
  JobTable table({});
  const Job& job = add(table, echo, "abc");
  EXPECT_EQ(table.find_by_idempotency_key("abc"), &job);
  EXPECT_EQ(table.find_by_idempotency_key("abd"), nullptr);
}

TEST_F(JobTableTest, ListIsNewestFirstFilteredAndPagedByCursor) {
  JobTable table({});
  std::vector<std::string> ids;
  ids.reserve(5);
  for (int i = 0; i < 5; ++i) ids.push_back(add(table, i % 2 ? sleep : echo).id);
  table.finish(table.get(ids[4])->seq, ended(JobState::failed, "x", "y"), t0);

  auto page = table.list({.limit = 2});
  ASSERT_EQ(page.jobs.size(), 2u);
  EXPECT_EQ(page.jobs[0]->id, ids[4]);
  EXPECT_EQ(page.jobs[1]->id, ids[3]);
  ASSERT_TRUE(page.next_cursor);
  auto next = table.list({.limit = 2, .before = page.next_cursor});
  ASSERT_EQ(next.jobs.size(), 2u);
  EXPECT_EQ(next.jobs[0]->id, ids[2]);
  auto last = table.list({.limit = 2, .before = next.next_cursor});
  ASSERT_EQ(last.jobs.size(), 1u);
  EXPECT_FALSE(last.next_cursor);

  auto sleeps = table.list({.kind = "sleep", .limit = 10});
  EXPECT_EQ(sleeps.jobs.size(), 2u);
  auto failed = table.list({.state = JobState::failed, .limit = 10});
  ASSERT_EQ(failed.jobs.size(), 1u);
  EXPECT_EQ(failed.jobs[0]->id, ids[4]);
}

TEST_F(JobTableTest, DiscardRemovesAJobThatWasNeverAdmitted) {
  JobTable table({});
  const Job& job = add(table, echo, "k");
  const std::string id = job.id;
  table.discard(job.seq);
  EXPECT_EQ(table.get(id), nullptr);
  EXPECT_EQ(table.find_by_idempotency_key("k"), nullptr);
}

TEST(Rfc3339, FormatsUtcWithMilliseconds) {
  const auto time = Clock::time_point(std::chrono::milliseconds(1700000000123));
  EXPECT_EQ(format_rfc3339(time), "2023-11-14T22:13:20.123Z");
}

TEST(Rfc3339, EveryTimeReadsBackAsItselfWhicheverMinuteWasFormattedBefore) {
  // The date and minute are kept from the previous call of the same minute: times that hop
  // between minutes, days, years and both sides of the epoch must each read back exactly.
  std::mt19937_64 random(7);
  std::vector<std::int64_t> times = {
      0,
      -1,
      59'999,
      60'000,
      1'709'164'799'999,
      1'709'164'800'000,
      7'258'118'399'999};  // 2199-12-31T23:59:59.999Z (the clock counts ns: to 2262)
  for (int i = 0; i < 2'000; ++i) {
    const std::int64_t base = static_cast<std::int64_t>(random() % 4'000'000'000'000ULL) - 60'000'000'000LL;
    times.push_back(base);
    times.push_back(base + static_cast<std::int64_t>(random() % 120'000));  // often the same minute
  }
  for (const std::int64_t ms : times) {
    const std::string text = format_rfc3339(Clock::time_point(std::chrono::milliseconds(ms)));
    EXPECT_EQ(text.size(), 24u) << text;
    EXPECT_EQ(proto::parse_rfc3339_ms(text), ms) << text;
  }
  EXPECT_EQ(format_rfc3339(Clock::time_point(std::chrono::milliseconds(-1))), "1969-12-31T23:59:59.999Z");
}

TEST_F(JobTableTest, IndexedListingMatchesAFullScanForEveryFilterAndCursor) {
  JobTable table({.max_finished = 100000});
  const kinds::Kind* kinds[] = {&echo, &sleep};
  const JobState ends[] = {JobState::succeeded, JobState::failed, JobState::cancelled, JobState::timed_out};
  std::vector<const Job*> all;
  std::uint32_t random = 12345;
  const auto next = [&random] { return random = random * 1103515245 + 12345, (random >> 16) & 0x7fff; };
  for (int i = 0; i < 600; ++i) {
    const Job& job = add(table, *kinds[next() % 2]);
    all.push_back(&job);
    const auto roll = next() % 6;
    if (roll == 4) table.start(job.seq, nullptr, t0);
    if (roll == 0) table.finish(job.seq, succeeded(i), t0);
    if (roll > 0 && roll < 4) table.finish(job.seq, ended(ends[roll], "x"), t0);
  }
  std::vector<std::optional<JobState>> states = {std::nullopt};
  for (int s = 0; s < 6; ++s) states.push_back(static_cast<JobState>(s));
  for (const auto& state : states) {
    for (const std::optional<std::string>& kind :
         {std::optional<std::string>{}, std::optional<std::string>{"echo"}}) {
      std::vector<std::string> expected;  // newest first, by a plain scan
      for (auto it = all.rbegin(); it != all.rend(); ++it) {
        if (state && (*it)->visible_state() != *state) continue;
        if (kind && (*it)->kind->name != *kind) continue;
        expected.push_back((*it)->id);
      }
      std::vector<std::string> paged;
      ListFilter filter{.state = state, .kind = kind, .limit = 7};
      for (int pages = 0; pages < 200; ++pages) {
        const auto page = table.list(filter);
        for (const Job* job : page.jobs) paged.push_back(job->id);
        if (!page.next_cursor) break;
        filter.before = page.next_cursor;
      }
      EXPECT_EQ(paged, expected) << (state ? proto::to_string(*state) : "any") << " " << kind.value_or("any");
    }
  }
  EXPECT_EQ(table.active_jobs().size(), table.counts().active);
}

TEST_F(JobTableTest, HistoryInterleavesStateEventsWithTheStoredOnesAndDropsTheOldest) {
  JobTable table({.event_history = 3});
  const Job& job = add(table, echo);                        // 1 queued
  table.output(job.seq, EventType::stdout_line, "before");  // 2
  table.start(job.seq, nullptr, t0 + 1s);                   // 3 running
  table.output(job.seq, EventType::stderr_line, "during");  // 4
  table.finish(job.seq, succeeded(1), t0 + 2s);             // 5 succeeded
  const auto history = job.history();
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].id, 3u);
  EXPECT_EQ(history[0].state, JobState::running);
  EXPECT_EQ(history[0].at, t0 + 1s);
  EXPECT_EQ(history[1].id, 4u);
  EXPECT_EQ(history[1].text, "during");
  EXPECT_EQ(history[2].id, 5u);
  EXPECT_EQ(history[2].state, JobState::succeeded);
  EXPECT_EQ(history[2].at, t0 + 2s);
  EXPECT_EQ(job.first_kept_event, 3u);
}

TEST_F(JobTableTest, MaxRetainedBytesEvictsTheOldestFinishedJobsAndKeepsTheNewest) {
  // Each job retains 2 x 100 bytes: its params and its result (echo returns them).
  JobTable table({.max_finished = 100, .retention = 1h, .event_history = 8, .max_retained_bytes = 500});
  const std::string text = R"({"pad":")" + std::string(90, 'x') + R"("})";
  ASSERT_EQ(text.size(), 100u);
  const Job& active = table.create(echo, proto::Executor::loop, text, 1s, std::nullopt, t0);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    const Job& job = table.create(echo, proto::Executor::loop, text, 1s, std::nullopt, t0);
    ids.push_back(job.id);
    EXPECT_EQ(JobTable::retained_bytes_of(job), 100u);  // params only while it runs
    table.finish(job.seq, succeeded(nlohmann::json::parse(text)), t0 + std::chrono::seconds(i));
  }
  // 4 x 200 > 500: the two oldest went, oldest first.
  EXPECT_EQ(table.get(ids[0]), nullptr);
  EXPECT_EQ(table.get(ids[1]), nullptr);
  EXPECT_NE(table.get(ids[2]), nullptr);
  EXPECT_NE(table.get(ids[3]), nullptr);
  EXPECT_NE(table.get(active.id), nullptr);  // active jobs are never evicted for bytes
  EXPECT_EQ(table.retained_bytes(), 400u);
  // One job bigger than the whole bound is still kept while it is the newest.
  const std::string big = R"({"pad":")" + std::string(1000, 'y') + R"("})";
  const Job& huge = table.create(echo, proto::Executor::loop, big, 1s, std::nullopt, t0);
  table.finish(huge.seq, succeeded(nlohmann::json::parse(big)), t0 + 5s);
  EXPECT_NE(table.get(huge.id), nullptr);
  EXPECT_EQ(table.counts().finished, 1u);
  EXPECT_EQ(table.retained_bytes(), 2 * big.size());
  // Retention frees the bytes too.
  table.evict_expired(t0 + 2h);
  EXPECT_EQ(table.retained_bytes(), 0u);
}

TEST_F(JobTableTest, AFinishedJobReleasesItsControlAndKeepsNoEventDeque) {
  JobTable table({});
  const Job& job = add(table, echo);
  table.start(job.seq, nullptr, t0);
  table.finish(job.seq, succeeded(1), t0);
  EXPECT_EQ(job.control, nullptr);
  EXPECT_EQ(job.other_events, nullptr);  // state events are the job's own fields
  EXPECT_EQ(job.history().size(), 3u);
  EXPECT_EQ(job.visible_state(), JobState::succeeded);
}

TEST_F(JobTableTest, LookupsBySeqFindEachJobThroughSlotCollisionsAndNoneOnceItLeft) {
  // The table keeps its newest jobs direct-mapped by seq (modulo a few thousand) in front of its
  // ordered map: seqs that share a slot, and jobs that left, must still read true.
  JobTable table({.max_finished = 100000});
  std::vector<const Job*> jobs;
  jobs.reserve(10000);
  for (int i = 0; i < 10000; ++i) jobs.push_back(&add(table, echo));
  for (const Job* job : jobs) ASSERT_EQ(table.get(job->seq), job);
  const JobSeq newest = jobs.back()->seq;
  table.discard(newest);
  EXPECT_EQ(table.get(newest), nullptr);
  for (JobSeq gap = 1024; gap <= 8192; gap *= 2) {  // the seqs sharing its slot, whatever its size
    if (gap < newest) {
      EXPECT_EQ(table.get(newest - gap), jobs[newest - gap - jobs.front()->seq]);
    }
  }
  const Job& next = add(table, echo);  // a later job may take the freed node
  EXPECT_EQ(table.get(next.seq), &next);
  EXPECT_EQ(table.get(newest), nullptr);
  for (std::size_t i = 0; i + 1 < jobs.size(); i += 997) EXPECT_EQ(table.get(jobs[i]->seq), jobs[i]);
}

TEST(JobIds, AForkedChildDrawsIdsOfItsOwnNotItsParentsNext) {
  // Ids come from a block of random bytes drawn ahead: a child must not hand out the ids its
  // parent will hand out next.
  (void)make_job_id();  // the block is drawn, most of it still unused
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string id = make_job_id();
    const bool written = write(pipe_fds[1], id.data(), id.size()) == static_cast<ssize_t>(id.size());
    _exit(written ? 0 : 1);
  }
  close(pipe_fds[1]);
  std::string from_child(32, '\0');
  const ssize_t got = read(pipe_fds[0], from_child.data(), from_child.size());
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_EQ(got, 32);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NE(from_child, make_job_id());
  EXPECT_EQ(from_child.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(JobIds, TheNextIdsKeyIsKnownWhileItsBytesAreDrawnAlready) {
  // The table prefetches the id index's slot for the next job's id: the key it is told must be
  // the key of the id make_job_id writes next, and none when that call draws a new block.
  int known = 0;
  int unknown = 0;
  for (int i = 0; i < 200; ++i) {
    const auto next = next_job_id_key();
    const std::string id = make_job_id();
    if (!next) {
      ++unknown;
      continue;
    }
    ++known;
    const auto key = parse_job_id(id);
    ASSERT_TRUE(key.has_value()) << id;
    EXPECT_EQ(*next, *key) << "told a key other than id " << id << "'s";
  }
  EXPECT_GT(known, 150);
  EXPECT_GE(unknown, 3) << "a block holds 64 ids: 200 draw at least three";
}

TEST_F(JobTableTest, EvictionForgetsRestoredIdsOfEveryFormAndKeepsTheRest) {
  // Eviction finds an id's slot by the key taken when the job finished; a restored row's id
  // that is not 32 hex digits has none and is found by its text.
  JobTable table({.max_finished = 2, .retention = 1h});
  const std::vector<std::string> ids = {"hand-written-id", make_job_id(), "ANOTHER-ONE", make_job_id()};
  for (std::size_t i = 0; i < ids.size(); ++i) {
    store::JobRow row;
    row.seq = i + 1;
    row.id = ids[i];
    row.kind = "echo";
    row.params_json = "{}";
    row.state = JobState::succeeded;
    row.result_json = "1";
    row.created_at_ms = 1'000 + static_cast<std::int64_t>(i);
    row.finished_at_ms = 2'000 + static_cast<std::int64_t>(i);
    table.restore(row, echo);
  }
  table.end_restore(ids.size());
  EXPECT_EQ(table.get(ids[0]), nullptr);
  EXPECT_EQ(table.get(ids[1]), nullptr);
  ASSERT_NE(table.get(ids[2]), nullptr);
  ASSERT_NE(table.get(ids[3]), nullptr);
  // New jobs push the restored ones out, a text-keyed one first.
  const Job& job = add(table, echo);
  table.finish(job.seq, succeeded(1), t0);
  EXPECT_EQ(table.get(ids[2]), nullptr);
  EXPECT_NE(table.get(ids[3]), nullptr);
  const Job& second = add(table, echo);
  table.finish(second.seq, succeeded(2), t0 + 1s);
  EXPECT_EQ(table.get(ids[3]), nullptr);
  EXPECT_EQ(table.get(job.id), &job);
  EXPECT_EQ(table.get(second.id), &second);
  EXPECT_EQ(table.counts().total, 2u);
}
