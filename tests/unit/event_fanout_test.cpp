// The GET /v1/events fan-out (api/fanout_queue.hpp, api/event_fanout.hpp): a subscriber's filter,
// bound and dropped count without sockets; then the fan-out thread serving socketpairs: every
// frame in order, the descriptor given back at close, a client's leaving noticed, heartbeats.
// Runs under ThreadSanitizer too (tsan preset): batches and descriptors cross threads here.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <thread>

#include "api/event_fanout.hpp"
#include "api/fanout_queue.hpp"

using namespace std::chrono_literals;
using jobd::api::EventFanout;
using jobd::api::EventFilter;
using jobd::api::FrameBatch;
using jobd::api::FramePosition;
using jobd::api::SubscriberQueue;
using jobd::proto::JobState;
namespace asio = boost::asio;

namespace {

std::shared_ptr<const FrameBatch> batch(
    std::uint64_t seq, std::initializer_list<std::tuple<std::string, std::string, JobState>> frames) {
  auto made = std::make_shared<FrameBatch>();
  made->seq = seq;
  for (const auto& [text, kind, state] : frames) made->add(text, kind, state);
  return made;
}

// Everything the next write of `queue` holds, as one string (then marks it written).
std::string drain(SubscriberQueue& queue) {
  std::string out;
  while (queue.ready()) {
    for (const auto& buffer : queue.take())
      out.append(static_cast<const char*>(buffer.data()), buffer.size());
    queue.written();
  }
  return out;
}

std::string dropped(int count) {
  return "event: dropped\ndata: {\"count\":" + std::to_string(count) + "}\n\n";
}

}  // namespace

TEST(SubscriberQueue, FilterByKindAndStatePassesOnlyMatchingFramesInOrder) {
  SubscriberQueue queue(EventFilter{"work", JobState::succeeded}, 16, {});
  queue.add(batch(0, {{"a\n\n", "work", JobState::queued},
                      {"b\n\n", "work", JobState::succeeded},
                      {"c\n\n", "other", JobState::succeeded},
                      {"d\n\n", "work", JobState::succeeded}}));
  EXPECT_EQ(queue.queued(), 2u);
  EXPECT_EQ(drain(queue), "b\n\nd\n\n");
}

TEST(SubscriberQueue, AnUnfilteredStreamWritesAWholeBatchAsOneBufferWithoutCopying) {
  SubscriberQueue queue(EventFilter{}, 16, {});
  const auto frames = batch(0, {{"a\n\n", "k", JobState::queued}, {"b\n\n", "k", JobState::running}});
  queue.add(frames);
  const auto buffers = queue.take();
  ASSERT_EQ(buffers.size(), 1u);
  EXPECT_EQ(buffers[0].data(), frames->text.data());  // a view into the shared batch
  EXPECT_EQ(buffers[0].size(), frames->text.size());
}

TEST(SubscriberQueue, StartsAtItsPositionSkippingEarlierBatchesAndFrames) {
  SubscriberQueue queue(EventFilter{}, 16, FramePosition{1, 1});
  queue.add(batch(0, {{"old\n\n", "k", JobState::queued}}));
  queue.add(batch(1, {{"before\n\n", "k", JobState::queued}, {"after\n\n", "k", JobState::queued}}));
  queue.add(batch(2, {{"next\n\n", "k", JobState::queued}}));
  EXPECT_EQ(drain(queue), "after\n\nnext\n\n");
}

TEST(SubscriberQueue, FramesBeyondTheBoundAreCountedAndReportedFirstInTheNextWrite) {
  SubscriberQueue queue(EventFilter{}, 2, {});
  queue.add(batch(0, {{"1\n\n", "k", JobState::queued},
                      {"2\n\n", "k", JobState::queued},
                      {"3\n\n", "k", JobState::queued},
                      {"4\n\n", "k", JobState::queued},
                      {"5\n\n", "k", JobState::queued}}));
  EXPECT_EQ(drain(queue), dropped(3) + "1\n\n2\n\n");
  EXPECT_EQ(queue.dropped_total(), 3u);
  // Written frames free their room; the count starts again after its report.
  queue.add(batch(1, {{"6\n\n", "k", JobState::queued}}));
  EXPECT_EQ(drain(queue), "6\n\n");
}

TEST(SubscriberQueue, AWriteUnderWayCountsAgainstTheBoundUntilItCompletes) {
  SubscriberQueue queue(EventFilter{}, 2, {});
  queue.add(batch(0, {{"1\n\n", "k", JobState::queued}, {"2\n\n", "k", JobState::queued}}));
  (void)queue.take();  // on the wire
  queue.add(batch(1, {{"3\n\n", "k", JobState::queued}}));
  EXPECT_EQ(queue.queued(), 2u);
  queue.written();
  EXPECT_EQ(drain(queue), dropped(1));
}

TEST(SubscriberQueue, OneWriteHoldsAtMostMaxBuffers) {
  SubscriberQueue queue(EventFilter{std::nullopt, JobState::queued}, 1000, {});
  for (std::uint64_t i = 0; i < SubscriberQueue::kMaxBuffers + 5; ++i) {
    // Filtered runs: each passing frame is a buffer of its own.
    queue.add(batch(i, {{"x\n\n", "k", JobState::queued}, {"y\n\n", "k", JobState::running}}));
  }
  EXPECT_EQ(queue.take().size(), SubscriberQueue::kMaxBuffers);
  queue.written();
  EXPECT_EQ(queue.take().size(), 5u);
}

namespace {

// A socketpair: the fan-out serves one end, the test reads the other.
struct Pair {
  int served = -1;
  int client = -1;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    served = fds[0];
    client = fds[1];
  }
  ~Pair() {
    if (client >= 0) ::close(client);
  }
  // Reads until `want` bytes came or `limit` passed.
  std::string read(std::size_t want, std::chrono::milliseconds limit = 3s) const {
    std::string out;
    const auto until = std::chrono::steady_clock::now() + limit;
    char buffer[4096];
    while (out.size() < want && std::chrono::steady_clock::now() < until) {
      const ssize_t n = ::recv(client, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) {
        out.append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0) {
        break;
      } else {
        std::this_thread::sleep_for(1ms);
      }
    }
    return out;
  }
};

// Runs the loop until `done` or `limit`.
template <class Done>
bool run_until(asio::io_context& loop, Done done, std::chrono::milliseconds limit = 3s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < until) {
    // With nothing to do the loop stops at once: the fan-out thread's post comes later.
    loop.restart();
    if (loop.poll() == 0) std::this_thread::sleep_for(1ms);
  }
  return done();
}

}  // namespace

TEST(EventFanout, StreamsGetEveryFrameTheirFilterPassesInOrderAndTheDescriptorBackAtClose) {
  asio::io_context loop;
  std::vector<int> given_back(2, -2);
  {
    EventFanout fanout(loop.get_executor());
    Pair all;
    Pair succeeded;
    const auto first = fanout.open(all.served, {}, {}, {}, [&](int fd) { given_back[0] = fd; });
    const auto second = fanout.open(succeeded.served, EventFilter{std::nullopt, JobState::succeeded}, {}, {},
                                    [&](int fd) { given_back[1] = fd; });
    std::string expected_all;
    std::string expected_succeeded;
    for (std::uint64_t seq = 0; seq < 50; ++seq) {
      const std::string queued = "q" + std::to_string(seq) + "\n\n";
      const std::string done = "s" + std::to_string(seq) + "\n\n";
      fanout.publish(batch(seq, {{queued, "k", JobState::queued}, {done, "k", JobState::succeeded}}),
                     seq + 1);
      expected_all += queued + done;
      expected_succeeded += done;
    }
    EXPECT_EQ(all.read(expected_all.size()), expected_all);
    EXPECT_EQ(succeeded.read(expected_succeeded.size()), expected_succeeded);
    fanout.close(first);
    fanout.close(second);
    EXPECT_TRUE(run_until(loop, [&] { return given_back[0] != -2 && given_back[1] != -2; }));
    // The very descriptors handed over, open: the session closes the connection itself.
    EXPECT_EQ(given_back[0], all.served);
    EXPECT_EQ(given_back[1], succeeded.served);
    for (const int fd : given_back) {
      if (fd >= 0) ::close(fd);
    }
  }
}

TEST(EventFanout, AClientThatLeavesEndsItsStreamAtOnce) {
  asio::io_context loop;
  EventFanout fanout(loop.get_executor());
  Pair pair;
  int given_back = -2;
  fanout.open(pair.served, {}, {}, {.heartbeat = 10min}, [&](int fd) { given_back = fd; });
  ::close(pair.client);
  pair.client = -1;
  EXPECT_TRUE(run_until(
      loop, [&] { return given_back != -2; }, 2s));
  EXPECT_EQ(given_back, -1);  // closed by the fan-out: nobody reads it
}

TEST(EventFanout, AnIdleStreamSendsHeartbeats) {
  asio::io_context loop;
  EventFanout fanout(loop.get_executor());
  Pair pair;
  const auto id = fanout.open(pair.served, {}, {}, {.heartbeat = 30ms}, [](int fd) { ::close(fd); });
  const std::string beat = ": keep-alive\n\n";
  EXPECT_EQ(pair.read(2 * beat.size(), 2s), beat + beat);
  fanout.close(id);
}

TEST(EventFanout, AStreamOpenedJustAfterABatchWasPostedStillGetsItsFrames) {
  asio::io_context loop;
  EventFanout fanout(loop.get_executor());
  Pair pair;
  // The stream subscribed at frame 1 of batch 0, which reached the fan-out before the stream.
  fanout.publish(batch(0, {{"before\n\n", "k", JobState::queued}, {"after\n\n", "k", JobState::queued}}), 0);
  std::this_thread::sleep_for(20ms);
  const auto id = fanout.open(pair.served, {}, FramePosition{0, 1}, {}, [](int fd) { ::close(fd); });
  EXPECT_EQ(pair.read(7), "after\n\n");
  fanout.close(id);
}

TEST(EventFanout, AStreamWhoseOpenComesManyBatchesLateStillGetsEveryFrameSinceItSubscribed) {
  asio::io_context loop;
  EventFanout fanout(loop.get_executor());
  Pair pair;
  // The stream subscribed at batch 3 (its head was slow to go out): every batch from there on is
  // kept for it, however many, and the ones before are not sent.
  std::string expected;
  for (std::uint64_t seq = 0; seq < 100; ++seq) {
    const std::string frame = "f" + std::to_string(seq) + "\n\n";
    if (seq >= 3) expected += frame;
    fanout.publish(batch(seq, {{frame, "k", JobState::queued}}), 3);
  }
  const auto id = fanout.open(pair.served, {}, FramePosition{3, 0}, {}, [](int fd) { ::close(fd); });
  EXPECT_EQ(pair.read(expected.size()), expected);
  fanout.close(id);
}

TEST(EventFanout, AReaderThatStopsReadingIsCutAfterTheWriteTimeout) {
  asio::io_context loop;
  EventFanout fanout(loop.get_executor());
  Pair pair;
  int given_back = -2;
  fanout.open(pair.served, {}, {}, {.heartbeat = 10min, .write_timeout = 100ms},
              [&](int fd) { given_back = fd; });
  // Far more than the socketpair holds, and nobody reads it.
  const std::string big(4 << 20, 'x');
  // Taken before the publish: the fan-out thread may start the write (and its timeout) before
  // the publish returns.
  const auto start = std::chrono::steady_clock::now();
  fanout.publish(batch(0, {{big, "k", JobState::queued}}), 1);
  EXPECT_TRUE(run_until(
      loop, [&] { return given_back != -2; }, 3s));
  EXPECT_EQ(given_back, -1);  // closed: the stream is over
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
}
