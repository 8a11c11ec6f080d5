// The SSE queues (api/event_stream.hpp) on an io_context the test drives: a bounded buffer that
// counts what it drops, a final state that always gets through, heartbeats when idle, close, and
// the hub behind GET /v1/events (one render per event, each filter applied per stream).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <set>

#include "api/event_stream.hpp"
#include "api_fixture.hpp"

using namespace std::chrono_literals;
using jobd::api::EventQueue;
using jobd::api::EventStreamOptions;
namespace asio = boost::asio;

namespace {

// EventQueue with its producer side open to the test.
class TestQueue final : public EventQueue {
 public:
  using EventQueue::end;
  using EventQueue::EventQueue;
  using EventQueue::push;
};

// One next() of the stream, run on the loop for up to `limit`.
struct Pull {
  bool answered = false;
  std::optional<std::string> piece;
};

class Puller {
 public:
  Puller(asio::io_context& loop, jobd::http::BodyStream& stream) : loop_(loop) {
    asio::co_spawn(loop, stream.next(), [this](std::exception_ptr error, std::optional<std::string> piece) {
      if (error) std::rethrow_exception(error);
      pull_.answered = true;
      pull_.piece = std::move(piece);
    });
  }
  const Pull& run_for(std::chrono::milliseconds limit) {
    loop_.restart();
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pull_.answered && std::chrono::steady_clock::now() < deadline) loop_.run_one_for(2ms);
    return pull_;
  }

 private:
  asio::io_context& loop_;
  Pull pull_;
};

std::optional<std::string> next(asio::io_context& loop, jobd::http::BodyStream& stream) {
  Puller puller(loop, stream);
  const Pull& pull = puller.run_for(2s);
  EXPECT_TRUE(pull.answered) << "next() did not answer";
  return pull.piece;
}

std::string dropped(int count) {
  return "event: dropped\ndata: {\"count\":" + std::to_string(count) + "}\n\n";
}

EventStreamOptions options(std::size_t buffer, std::chrono::milliseconds heartbeat = 10s) {
  return {buffer, heartbeat, nullptr};
}

}  // namespace

TEST(EventQueue, QueuedFramesComeOutInOrderInOneWrite) {
  asio::io_context loop;
  TestQueue queue(loop.get_executor(), options(8));
  queue.push("a\n\n", false);
  queue.push("b\n\n", false);
  EXPECT_EQ(next(loop, queue), "a\n\nb\n\n");
}

TEST(EventQueue, EventsBeyondTheBufferAreCountedAndReportedAsOneDroppedEvent) {
  asio::io_context loop;
  TestQueue queue(loop.get_executor(), options(2));
  for (const char* frame : {"1\n\n", "2\n\n", "3\n\n", "4\n\n", "5\n\n"}) queue.push(frame, false);
  EXPECT_EQ(next(loop, queue), dropped(3) + "1\n\n2\n\n");
  // The count starts again after it was reported.
  queue.push("6\n\n", false);
  EXPECT_EQ(next(loop, queue), "6\n\n");
}

TEST(EventQueue, FrameThatMustBeDeliveredGetsPastAFullBuffer) {
  asio::io_context loop;
  TestQueue queue(loop.get_executor(), options(1));
  queue.push("progress\n\n", false);
  queue.push("progress again\n\n", false);
  queue.push("final\n\n", true);
  EXPECT_EQ(next(loop, queue), dropped(1) + "progress\n\nfinal\n\n");
}

TEST(EventQueue, IdleStreamSendsAHeartbeatCommentAfterTheInterval) {
  asio::io_context loop;
  TestQueue queue(loop.get_executor(), options(8, 30ms));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(next(loop, queue), ": keep-alive\n\n");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
}

TEST(EventQueue, WaitingReaderWakesForAPushNotBeforeIt) {
  asio::io_context loop;
  TestQueue queue(loop.get_executor(), options(8, 10s));
  Puller puller(loop, queue);
  EXPECT_FALSE(puller.run_for(30ms).answered);
  queue.push("x\n\n", false);
  const Pull& pull = puller.run_for(2s);
  ASSERT_TRUE(pull.answered);
  EXPECT_EQ(pull.piece, "x\n\n");
}

TEST(EventQueue, CloseDeliversWhatIsQueuedThenEndsTheStream) {
  asio::io_context loop;
  TestQueue queue(loop.get_executor(), options(8));
  queue.push("last\n\n", false);
  queue.close();
  EXPECT_EQ(next(loop, queue), "last\n\n");
  EXPECT_EQ(next(loop, queue), std::nullopt);
}

TEST(EventQueue, CloseEndsAWaitingReaderAtOnce) {
  asio::io_context loop;
  TestQueue queue(loop.get_executor(), options(8, 10s));
  Puller puller(loop, queue);
  EXPECT_FALSE(puller.run_for(10ms).answered);
  queue.close();
  const Pull& pull = puller.run_for(1s);
  ASSERT_TRUE(pull.answered);
  EXPECT_EQ(pull.piece, std::nullopt);
}

TEST(EventQueue, OpenStreamsAreCounted) {
  asio::io_context loop;
  std::size_t open = 0;
  {
    TestQueue first(loop.get_executor(), {8, 10s, &open});
    TestQueue second(loop.get_executor(), {8, 10s, &open});
    EXPECT_EQ(open, 2u);
  }
  EXPECT_EQ(open, 0u);
}

TEST(JobEventStream, FinalStateArrivesAfterDroppedProgressAndEndsTheStream) {
  asio::io_context loop;
  jobd::jobs::JobTable table({.max_finished = 10, .retention = 1h, .event_history = 64});
  const auto& job = table.create(*jobd::testing::api_test_kinds().find("work"), jobd::proto::Executor::thread,
                                 R"({"n":1})", 5s, std::nullopt, jobd::jobs::Clock::now());
  // Replays the `queued` event (after id 0), then follows the job with room for two more.
  jobd::api::JobEventStream stream(loop.get_executor(), options(2), table, job, 0);
  table.start(job.seq, nullptr, jobd::jobs::Clock::now());
  for (int i = 0; i < 5; ++i) table.progress(job.seq, i / 10.0, "step");
  table.finish(job.seq, jobd::proto::Outcome::success({}), jobd::jobs::Clock::now());
  const std::string out = next(loop, stream).value_or("");
  EXPECT_NE(out.find("event: dropped"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("state":"succeeded")"), std::string::npos) << out;
  EXPECT_EQ(next(loop, stream), std::nullopt);
}

TEST(JobEventStream, FinishedJobReplaysItsHistoryAndEnds) {
  asio::io_context loop;
  jobd::jobs::JobTable table({.max_finished = 10, .retention = 1h, .event_history = 64});
  const auto& job = table.create(*jobd::testing::api_test_kinds().find("work"), jobd::proto::Executor::thread,
                                 R"({"n":1})", 5s, std::nullopt, jobd::jobs::Clock::now());
  table.finish(job.seq, jobd::proto::Outcome::success({}), jobd::jobs::Clock::now());
  jobd::api::JobEventStream stream(loop.get_executor(), options(8), table, job, 1);  // after `queued`
  const std::string out = next(loop, stream).value_or("");
  EXPECT_EQ(out.find(R"("state":"queued")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("state":"succeeded")"), std::string::npos) << out;
  EXPECT_EQ(next(loop, stream), std::nullopt);
}

TEST(AllEventsStream, ShowsOnlyTheRequestedStateAndKind) {
  asio::io_context loop;
  jobd::jobs::JobTable table({.max_finished = 10, .retention = 1h, .event_history = 64});
  jobd::api::AllEventsHub hub(loop.get_executor(), table);
  jobd::api::AllEventsStream stream(loop.get_executor(), options(8), hub, std::string("work"),
                                    jobd::proto::JobState::succeeded);
  const auto& kinds = jobd::testing::api_test_kinds();
  const auto& failed = table.create(*kinds.find("work"), jobd::proto::Executor::thread, R"({"n":1})", 5s,
                                    std::nullopt, jobd::jobs::Clock::now());
  const auto& other = table.create(*kinds.find("looped"), jobd::proto::Executor::loop, "{}", 5s, std::nullopt,
                                   jobd::jobs::Clock::now());
  const auto& wanted = table.create(*kinds.find("work"), jobd::proto::Executor::thread, R"({"n":2})", 5s,
                                    std::nullopt, jobd::jobs::Clock::now());
  table.finish(failed.seq, jobd::proto::Outcome::failure("x", "no"), jobd::jobs::Clock::now());
  table.finish(other.seq, jobd::proto::Outcome::success({}), jobd::jobs::Clock::now());
  table.finish(wanted.seq, jobd::proto::Outcome::success({}), jobd::jobs::Clock::now());
  const std::string out = next(loop, stream).value_or("");
  EXPECT_NE(out.find(wanted.id), std::string::npos) << out;
  EXPECT_EQ(out.find(failed.id), std::string::npos) << out;
  EXPECT_EQ(out.find(other.id), std::string::npos) << out;
}

TEST(AllEventsHub, RendersEachEventOnceAndGivesEveryStreamEachEventItsFilterPassesOnce) {
  asio::io_context loop;
  jobd::jobs::JobTable table({.max_finished = 100, .retention = 1h, .event_history = 64});
  jobd::api::AllEventsHub hub(loop.get_executor(), table);
  using jobd::proto::JobState;
  struct Filter {
    std::optional<std::string> kind;
    std::optional<JobState> state;
  };
  const Filter filters[] = {
      {}, {"work", {}}, {{}, JobState::succeeded}, {"looped", JobState::running}, {"none", {}}};
  std::vector<std::unique_ptr<jobd::api::AllEventsStream>> streams;
  for (int i = 0; i < 500; ++i) {
    const Filter& filter = filters[i % 5];
    streams.push_back(std::make_unique<jobd::api::AllEventsStream>(loop.get_executor(), options(1024), hub,
                                                                   filter.kind, filter.state));
  }
  // Six jobs of two kinds through every transition: 3 events each, and a failure.
  const auto& kinds = jobd::testing::api_test_kinds();
  std::vector<std::pair<std::string, std::string>> events;  // (kind, state) of each event, in order
  std::vector<const jobd::jobs::Job*> jobs;
  for (int i = 0; i < 6; ++i) {
    const auto* kind = kinds.find(i % 2 ? "looped" : "work");
    jobs.push_back(&table.create(*kind, jobd::proto::Executor::thread, R"({"n":1})", 5s, std::nullopt,
                                 jobd::jobs::Clock::now()));
  }
  for (const auto* job : jobs) table.start(job->seq, nullptr, jobd::jobs::Clock::now());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    table.finish(
        jobs[i]->seq,
        i == 2 ? jobd::proto::Outcome::failure("kind-failed", "no") : jobd::proto::Outcome::success(1),
        jobd::jobs::Clock::now());
  }
  // Every event was wanted by the unfiltered streams: rendered once each, not once per stream.
  EXPECT_EQ(hub.renders(), 18u);
  for (std::size_t s = 0; s < streams.size(); ++s) {
    const Filter& filter = filters[s % 5];
    std::multiset<std::pair<std::string, std::string>> expected;
    for (const auto* job : jobs) {
      for (const char* state : {"queued", "running", job == jobs[2] ? "failed" : "succeeded"}) {
        if (filter.kind && job->kind->name != *filter.kind) continue;
        if (filter.state && jobd::proto::to_string(*filter.state) != state) continue;
        expected.emplace(job->id, state);
      }
    }
    std::multiset<std::pair<std::string, std::string>> got;
    if (!expected.empty()) {
      // One write holds everything the stream got (the hub wakes readers once, after the events).
      const std::string out = next(loop, *streams[s]).value_or("");
      for (std::size_t at = 0; (at = out.find("data: ", at)) != std::string::npos; at += 6) {
        const auto data = nlohmann::json::parse(out.substr(at + 6, out.find('\n', at) - at - 6));
        got.emplace(data["id"], data["state"]);
      }
    }
    EXPECT_EQ(got, expected) << "stream " << s;
  }
}
