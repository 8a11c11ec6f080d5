// A long-poll whose client went away is cancelled through its coroutine's cancellation slot (the
// HTTP session's PeerWatch emits on it): the wait must end at once, not at its deadline, and
// leave no watch on the job behind. The job itself is not touched.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include "api_fixture.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

template <typename Done>
void run_until(ApiHarness& h, Done done, std::chrono::milliseconds limit = 2s) {
  h.loop.restart();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) h.loop.run_one_for(5ms);
}

}  // namespace

TEST(LongPollCancel, ACancelledWaitForTheFinalStateEndsAtOnceAndUnwatchesTheJob) {
  ApiHarness h;
  const auto seq = h.seq_of(h.submit_work());
  asio::cancellation_signal cancel;
  bool done = false;
  std::optional<nlohmann::json> record = nlohmann::json("not yet");
  asio::co_spawn(h.loop, h.scheduler.wait_final(seq, std::chrono::steady_clock::now() + 30s),
                 asio::bind_cancellation_slot(
                     cancel.slot(), [&](const std::exception_ptr&, std::optional<nlohmann::json> r) {
                       done = true;
                       record = std::move(r);
                     }));
  run_until(h, [&] { return h.table.watched(seq); });
  ASSERT_TRUE(h.table.watched(seq));
  const auto start = std::chrono::steady_clock::now();
  cancel.emit(asio::cancellation_type::terminal);
  run_until(h, [&] { return done; });
  EXPECT_TRUE(done);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_FALSE(record.has_value());  // ran out, like a wait past its deadline
  EXPECT_FALSE(h.table.watched(seq));
  EXPECT_EQ(h.table.get(seq)->state, jobd::proto::JobState::queued);
}

TEST(LongPollCancel, ACancelledGetWithWaitAnswersWithoutWaitingAndLeavesNoWatch) {
  ApiHarness h;
  const auto id = h.submit_work();
  jobd::http::Request request;
  request.target = "/v1/jobs/" + id + "?wait=30";
  jobd::http::Answer answer = h.api.handle(request);
  ASSERT_TRUE(std::holds_alternative<asio::awaitable<jobd::http::Response>>(answer.response));
  asio::cancellation_signal cancel;
  std::optional<jobd::http::Response> response;
  asio::co_spawn(h.loop, std::get<asio::awaitable<jobd::http::Response>>(std::move(answer.response)),
                 asio::bind_cancellation_slot(cancel.slot(),
                                              [&](const std::exception_ptr& error, jobd::http::Response r) {
                                                if (!error) response = std::move(r);
                                              }));
  run_until(h, [&] { return h.table.watched(h.seq_of(id)); });
  ASSERT_TRUE(h.table.watched(h.seq_of(id)));
  cancel.emit(asio::cancellation_type::terminal);
  run_until(h, [&] { return response.has_value(); });
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200u);  // the job as it is (the session drops it: nobody reads)
  EXPECT_FALSE(h.table.watched(h.seq_of(id)));
}
