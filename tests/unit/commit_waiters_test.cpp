// CommitWaiters: the intrusive list of commit waits the job table wakes once per batch. Waiters
// wake in ticket order (equal tickets by arrival), only when their ticket is committed, and a
// waiter that goes away first, or outlives the list, is never touched again.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <vector>

#include "jobs/commit_waiters.hpp"

using jobd::jobs::CommitWaiters;

namespace {

class Recorder final : public CommitWaiters::Waiter {
 public:
  Recorder(std::vector<int>& woken, int name) : woken_(woken), name_(name) {}
  ~Recorder() override = default;
  std::function<void()> then;  // runs inside woken(), as a resumed session might act

 private:
  void woken() override {
    woken_.push_back(name_);
    if (then) then();
  }
  std::vector<int>& woken_;
  int name_;
};

TEST(CommitWaiters, WakesInTicketOrderThenArrivalAndOnlyWhatIsCommitted) {
  CommitWaiters list;
  std::vector<int> woken;
  Recorder a(woken, 1), b(woken, 2), c(woken, 3), d(woken, 4), e(woken, 5);
  list.add(a, 10);
  list.add(b, 12);
  list.add(c, 10);  // same ticket as a: after it
  list.add(d, 11);  // an older ticket (an idempotent replay waiting for an earlier insert)
  list.add(e, 13);
  EXPECT_EQ(list.size(), 5u);
  list.wake_through(9);
  EXPECT_TRUE(woken.empty()) << "woken before its ticket was committed";
  list.wake_through(11);
  EXPECT_EQ(woken, (std::vector<int>{1, 3, 4}));
  EXPECT_FALSE(a.linked());
  EXPECT_TRUE(b.linked());
  EXPECT_EQ(list.size(), 2u);
  list.wake_through(13);
  EXPECT_EQ(woken, (std::vector<int>{1, 3, 4, 2, 5}));
  EXPECT_EQ(list.size(), 0u);
  list.wake_through(100);  // nothing left: nothing woken twice
  EXPECT_EQ(woken.size(), 5u);
}

TEST(CommitWaiters, AWaiterGoneBeforeItsCommitIsSkipped) {
  CommitWaiters list;
  std::vector<int> woken;
  Recorder first(woken, 1);
  list.add(first, 5);
  {
    auto gone = std::make_unique<Recorder>(woken, 2);  // a session whose client left
    list.add(*gone, 5);
    auto last = std::make_unique<Recorder>(woken, 3);
    list.add(*last, 6);
    last.reset();  // the tail goes
    EXPECT_EQ(list.size(), 2u);
  }
  EXPECT_EQ(list.size(), 1u);
  Recorder after(woken, 4);
  list.add(after, 6);  // the list is sound after both unlinked: appends at the right place
  list.wake_through(6);
  EXPECT_EQ(woken, (std::vector<int>{1, 4}));
}

TEST(CommitWaiters, AWokenWaiterMayUnlinkOthersAndAddLaterOnes) {
  CommitWaiters list;
  std::vector<int> woken;
  Recorder a(woken, 1), b(woken, 2), c(woken, 3);
  auto doomed = std::make_unique<Recorder>(woken, 9);
  list.add(a, 1);
  list.add(*doomed, 1);
  list.add(b, 2);
  a.then = [&] {
    doomed.reset();  // destroys a waiter of the same batch, not yet woken
    list.add(c, 3);  // a wait for a later commit: not woken by this batch
  };
  list.wake_through(2);
  EXPECT_EQ(woken, (std::vector<int>{1, 2}));
  EXPECT_TRUE(c.linked());
  list.wake_through(3);
  EXPECT_EQ(woken, (std::vector<int>{1, 2, 3}));
}

TEST(CommitWaiters, AWaiterOutlivingTheListIsDetached) {
  std::vector<int> woken;
  Recorder survivor(woken, 1);
  {
    CommitWaiters list;
    list.add(survivor, 1);
    EXPECT_TRUE(survivor.linked());
  }
  EXPECT_FALSE(survivor.linked());  // its destructor now touches nothing (ASan would say)
  EXPECT_TRUE(woken.empty());
}

}  // namespace
