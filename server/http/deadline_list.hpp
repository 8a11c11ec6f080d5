// DeadlineList: entries that each fall due a fixed time after they joined, so that joining at the
// back keeps the list in deadline order, served by one timer for all of them: it is armed at the
// front's deadline, and each wake-up expires every entry due within a window of it (one wake-up
// for a burst that joined together). Entries leave by themselves when they are done first (their
// hooks unlink on destruction or unlink()). Three of the server's waits work this way (the idle
// connections' timeout, the sessions' linger, the peer watches' start): most of their entries
// leave long before their deadline, and a timer of their own would cost each one a timer-queue
// insert and a cancellation. Loop thread only.
#pragma once

#include <algorithm>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>
#include <chrono>
#include <functional>
#include <utility>

namespace jobd::http {

using AutoUnlinkHook =
    boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

template <typename Entry, AutoUnlinkHook Entry::*Hook>
class DeadlineList {
 public:
  using Clock = std::chrono::steady_clock;
  using List = boost::intrusive::list<Entry, boost::intrusive::member_hook<Entry, AutoUnlinkHook, Hook>,
                                      boost::intrusive::constant_time_size<false>>;

  struct Policy {
    std::function<Clock::time_point(const Entry&)> deadline;
    // Called with the entry already off the list. It must not destroy the list's other entries.
    std::function<void(Entry&)> expire;
    Clock::duration window{};  // a wake-up expires what falls due within this of it
    Clock::duration late{};    // and comes this long after the front's deadline
  };

  DeadlineList(const boost::asio::any_io_executor& executor, Policy policy)
      : timer_(executor), policy_(std::move(policy)) {}
  DeadlineList(const DeadlineList&) = delete;
  DeadlineList& operator=(const DeadlineList&) = delete;

  // Adds `entry` at the back (taking it out of this list first if it is in it): its deadline must
  // not come before the last entry's.
  void push_back(Entry& entry) {
    (entry.*Hook).unlink();
    list_.push_back(entry);
    arm();
  }
  // For walking or emptying the list (shutdown); entries taken out are never expired.
  List& entries() { return list_; }

  // Shutdown: from now on the timer also wakes every kClosingPoll and is left unarmed once the
  // list is empty. Entries leave unseen (auto-unlink), so without this the timer would stay
  // armed for the deadline of an entry long gone, and a loop run until it has no work left (the
  // HTTP fuzzer's, an embedding's) would wait for it. Deadlines are kept as before.
  void close() {
    closing_ = true;
    armed_ = false;
    timer_.cancel();
    arm();
  }

 private:
  static constexpr Clock::duration kClosingPoll = std::chrono::milliseconds(2);

  void arm() {
    if (armed_ || list_.empty()) return;
    armed_ = true;
    auto at = policy_.deadline(list_.front()) + policy_.late;
    if (closing_) at = std::min(at, Clock::now() + kClosingPoll);
    timer_.expires_at(at);
    // (A cancelled wait means the list is being destroyed with the server, or close() replaced
    // the wait: `this` is not used.)
    timer_.async_wait([this](boost::system::error_code error) {
      if (error) return;
      armed_ = false;
      expire_due();
    });
  }

  void expire_due() {
    const auto due = Clock::now() + policy_.window;
    while (!list_.empty() && policy_.deadline(list_.front()) <= due) {
      Entry& entry = list_.front();
      list_.pop_front();
      policy_.expire(entry);
    }
    arm();
  }

  List list_;
  boost::asio::steady_timer timer_;
  Policy policy_;
  bool armed_ = false;
  bool closing_ = false;
};

}  // namespace jobd::http
