// The SSE queues (api/event_stream.hpp) on an io_context the test drives: a bounded buffer that
// counts what it drops, a final state that always gets through, heartbeats when idle, close, and
// the hub behind GET /v1/events (one render per event, each filter applied per stream).
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <array>
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
    // NOLINTNEXTLINE(performance-unnecessary-value-param): by reference, GCC 12 -O3 warns maybe-uninitialized
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
  const auto start = std::chrono::steady_clock::now();  // before the queue arms its timer
  TestQueue queue(loop.get_executor(), options(8, 30ms));
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

namespace {
// Reads what is waiting on `fd` (the stream ended: everything was written before).
std::string read_waiting(int fd) {
  std::string out;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n <= 0) return out;
    out.append(buffer, static_cast<std::size_t>(n));
  }
}
}  // namespace

TEST(AllEventsHub, RendersEachEventOnceAndGivesEveryStreamEachEventItsFilterPassesOnce) {
  asio::io_context loop;
  jobd::jobs::JobTable table({.max_finished = 100, .retention = 1h, .event_history = 64});
  jobd::api::EventFanout fanout(loop.get_executor());
  jobd::api::AllEventsHub hub(loop.get_executor(), table, fanout, 1024);
  using jobd::proto::JobState;
  const jobd::api::EventFilter filters[] = {
      {}, {"work", {}}, {{}, JobState::succeeded}, {"looped", JobState::running}, {"none", {}}};
  constexpr std::size_t kStreams = 100;
  std::vector<std::shared_ptr<jobd::api::AllEventsStream>> streams;
  std::vector<std::array<int, 2>> pairs(kStreams);
  std::vector<int> returned(kStreams, -2);
  for (std::size_t i = 0; i < kStreams; ++i) {
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[i].data()), 0);
    streams.push_back(std::make_shared<jobd::api::AllEventsStream>(loop.get_executor(), options(1024), hub,
                                                                   filters[i % 5]));
    asio::co_spawn(loop, streams.back()->serve(pairs[i][0]),
                   [&returned, i](const std::exception_ptr& error, int fd) {
                     if (error) std::rethrow_exception(error);
                     returned[i] = fd;
                   });
  }
  loop.poll();  // every stream handed to the fan-out thread
  // Six jobs of two kinds through every transition: 3 events each, and a failure.
  const auto& kinds = jobd::testing::api_test_kinds();
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
  // Every event rendered once, not once per stream.
  EXPECT_EQ(hub.renders(), 18u);
  hub.flush();
  // Closing writes what each stream has queued, then gives each descriptor back.
  for (auto& stream : streams) stream->close();
  loop.restart();
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (std::count(returned.begin(), returned.end(), -2) > 0 && std::chrono::steady_clock::now() < until)
    loop.run_one_for(5ms);
  for (std::size_t s = 0; s < kStreams; ++s) {
    ASSERT_EQ(returned[s], pairs[s][0]) << "stream " << s;
    const auto& filter = filters[s % 5];
    std::vector<std::pair<std::string, std::string>> expected;  // in the order they happened
    for (const char* state : {"queued", "running", "done"}) {
      for (const auto* job : jobs) {
        const std::string name =
            std::string(state) == "done" ? (job == jobs[2] ? "failed" : "succeeded") : state;
        if (filter.kind && job->kind->name != *filter.kind) continue;
        if (filter.state && jobd::proto::to_string(*filter.state) != name) continue;
        expected.emplace_back(job->id, name);
      }
    }
    std::vector<std::pair<std::string, std::string>> got;
    const std::string out = read_waiting(pairs[s][1]);
    for (std::size_t at = 0; (at = out.find("data: ", at)) != std::string::npos; at += 6) {
      const auto data = nlohmann::json::parse(out.substr(at + 6, out.find('\n', at) - at - 6));
      got.emplace_back(data["id"], data["state"]);
    }
    EXPECT_EQ(got, expected) << "stream " << s;
    ::close(pairs[s][0]);
    ::close(pairs[s][1]);
  }
}

TEST(AllEventsStream, ClosedBeforeItIsServedGivesTheDescriptorStraightBack) {
  asio::io_context loop;
  jobd::jobs::JobTable table({.max_finished = 10, .retention = 1h, .event_history = 64});
  jobd::api::EventFanout fanout(loop.get_executor());
  jobd::api::AllEventsHub hub(loop.get_executor(), table, fanout, 8);
  std::size_t open = 0;
  int returned = -2;
  {
    jobd::api::AllEventsStream stream(loop.get_executor(), {8, 10s, &open}, hub, {});
    EXPECT_EQ(open, 1u);
    stream.close();  // shutdown began while its head was being written
    asio::co_spawn(loop, stream.serve(42), [&](const std::exception_ptr&, int fd) { returned = fd; });
    loop.run_for(100ms);
  }
  EXPECT_EQ(returned, 42);
  EXPECT_EQ(open, 0u);
}
