// DeadlineList (http/deadline_list.hpp): entries expire in deadline order, never before their
// deadline less the window, those within the window of a wake-up together; an entry that leaves
// first never expires; the timer re-arms for entries that join after the list emptied; a closed
// list leaves no timer behind once its entries are gone. The loop is run by hand; deadlines are
// ~100 ms apart, so that a busy machine may delay the wake-ups (which the checks allow) without
// making them look reordered or merged.
#include "http/deadline_list.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Entry {
  std::string name;
  Clock::time_point due;
  jobd::http::AutoUnlinkHook hook;
};

using List = jobd::http::DeadlineList<Entry, &Entry::hook>;

struct Expired {
  std::string name;
  Clock::time_point at;
  Clock::time_point due;
  int wake_up;  // which of the loop's handlers expired it
};

struct Rig {
  asio::io_context loop;
  // (Without work the loop would stop once the list is empty, and run nothing after.)
  asio::executor_work_guard<asio::io_context::executor_type> busy = asio::make_work_guard(loop);
  int handlers = 0;
  std::vector<Expired> expired;
  List list;

  explicit Rig(Clock::duration window = 0ms, Clock::duration late = 0ms)
      : list(loop.get_executor(), {.deadline = [](const Entry& e) { return e.due; },
                                   .expire =
                                       [this](Entry& e) {
                                         expired.push_back({e.name, Clock::now(), e.due, handlers});
                                       },
                                   .window = window,
                                   .late = late}) {}

  // Until `count` entries expired (or 2 s: a failing check follows).
  void run_until_expired(std::size_t count) {
    const auto until = Clock::now() + 2s;
    while (expired.size() < count && Clock::now() < until)
      handlers += static_cast<int>(loop.run_one_for(1ms));
  }
  void run_for(Clock::duration span) {
    const auto until = Clock::now() + span;
    while (Clock::now() < until) handlers += static_cast<int>(loop.run_one_for(1ms));
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const Expired& e : expired) out.push_back(e.name);
    return out;
  }
};

}  // namespace

TEST(DeadlineList, EntriesExpireInDeadlineOrderAndNotBeforeTheirDeadline) {
  Rig rig;
  const auto now = Clock::now();
  Entry a{"a", now + 20ms, {}}, b{"b", now + 150ms, {}}, c{"c", now + 250ms, {}};
  rig.list.push_back(a);
  rig.list.push_back(b);
  rig.list.push_back(c);
  rig.run_for(80ms);
  EXPECT_EQ(rig.names(), std::vector<std::string>({"a"}));
  rig.run_until_expired(3);
  ASSERT_EQ(rig.names(), std::vector<std::string>({"a", "b", "c"}));
  for (const Expired& e : rig.expired) EXPECT_GE(e.at, e.due) << e.name;
  EXPECT_TRUE(rig.list.entries().empty());
}

TEST(DeadlineList, AnEntryThatLeavesFirstNeverExpiresAndTheOthersStillDo) {
  Rig rig;
  const auto now = Clock::now();
  Entry a{"a", now + 20ms, {}}, c{"c", now + 120ms, {}};
  {
    Entry b{"b", now + 70ms, {}};
    rig.list.push_back(a);
    rig.list.push_back(b);
    rig.list.push_back(c);
    a.hook.unlink();  // done before its deadline: the timer, armed for it, finds nobody due
  }                   // and b is destroyed while listed
  rig.run_until_expired(1);
  rig.run_for(20ms);
  EXPECT_EQ(rig.names(), std::vector<std::string>({"c"}));
}

TEST(DeadlineList, OneWakeUpExpiresWhatFallsDueWithinTheWindow) {
  Rig rig(/*window=*/300ms);
  const auto now = Clock::now();
  Entry a{"a", now + 10ms, {}}, b{"b", now + 250ms, {}}, c{"c", now + 1000ms, {}};
  rig.list.push_back(a);
  rig.list.push_back(b);
  rig.list.push_back(c);
  rig.run_until_expired(1);
  // b's deadline is 240 ms after a's, within the window: it went with a, early. c's is not.
  EXPECT_EQ(rig.names(), std::vector<std::string>({"a", "b"}));
  ASSERT_EQ(rig.expired.size(), 2U);
  EXPECT_EQ(rig.expired[0].wake_up, rig.expired[1].wake_up);
  EXPECT_LT(rig.expired[1].at, b.due);
}

TEST(DeadlineList, TheWakeUpComesLateByTheGivenMargin) {
  Rig rig(/*window=*/0ms, /*late=*/40ms);
  Entry a{"a", Clock::now() + 10ms, {}};
  rig.list.push_back(a);
  rig.run_for(30ms);
  EXPECT_TRUE(rig.expired.empty());
  rig.run_until_expired(1);
  ASSERT_EQ(rig.names(), std::vector<std::string>({"a"}));
  EXPECT_GE(rig.expired[0].at, a.due + 40ms);
}

TEST(DeadlineList, AnEntryPushedAgainMovesToTheBackWithItsNewDeadline) {
  Rig rig;
  const auto now = Clock::now();
  Entry a{"a", now + 20ms, {}}, b{"b", now + 30ms, {}};
  rig.list.push_back(a);
  rig.list.push_back(b);
  a.due = now + 200ms;  // re-armed, as a watch is
  rig.list.push_back(a);
  rig.run_for(100ms);
  EXPECT_EQ(rig.names(), std::vector<std::string>({"b"}));
  rig.run_until_expired(2);
  EXPECT_EQ(rig.names(), std::vector<std::string>({"b", "a"}));
  ASSERT_EQ(rig.expired.size(), 2U);
  EXPECT_GE(rig.expired[1].at, a.due);
}

TEST(DeadlineList, AnEntryJoiningAfterTheListEmptiedIsServedByANewWakeUp) {
  Rig rig;
  Entry a{"a", Clock::now() + 10ms, {}};
  rig.list.push_back(a);
  rig.run_until_expired(1);
  ASSERT_EQ(rig.names(), std::vector<std::string>({"a"}));
  Entry b{"b", Clock::now() + 10ms, {}};
  rig.list.push_back(b);
  rig.run_until_expired(2);
  EXPECT_EQ(rig.names(), std::vector<std::string>({"a", "b"}));
}

TEST(DeadlineList, AClosedListLeavesNoTimerOnceItsEntriesLeftAndStillExpiresTheOthers) {
  Rig rig;
  const auto now = Clock::now();
  Entry a{"a", now + 100ms, {}}, far{"far", now + 60s, {}};
  rig.list.push_back(a);
  rig.list.push_back(far);
  // The loop stops once it has no work: the list's timer is all that is left (a guard let go
  // with nothing else pending would stop it at once).
  rig.busy.reset();
  rig.list.close();
  rig.run_until_expired(1);
  EXPECT_EQ(rig.names(), std::vector<std::string>({"a"}));
  ASSERT_EQ(rig.expired.size(), 1U);
  EXPECT_GE(rig.expired[0].at, a.due);  // the closing wake-ups did not expire it early
  far.hook.unlink();  // leaves unseen, as a session does at shutdown, the timer armed for it
  // The list is empty: the loop runs dry (stops) within seconds, not at far's deadline a minute
  // away.
  rig.loop.run_for(5s);
  EXPECT_TRUE(rig.loop.stopped());
}

TEST(DeadlineList, AnOpenListKeepsItsTimerForAnEntryThatLeftUnseen) {
  // The case close() exists for: without it the wait for a gone entry's deadline stays.
  Rig rig;
  Entry far{"far", Clock::now() + 60s, {}};
  rig.list.push_back(far);
  rig.busy.reset();
  far.hook.unlink();
  EXPECT_EQ(rig.loop.run_for(50ms), 0U);
  EXPECT_FALSE(rig.loop.stopped());
}
