// CommitWaiters: who waits for which store ticket, woken in ticket order once per committed batch.
//
// A wait for a commit (a submitter waiting for its job's insert, a cancel waiting for the final
// state) used to cost a shared timer, a shared flag and a callback per wait. Here a waiter is an
// intrusive node that lives where it waits (the waiting coroutine's frame) and the list allocates
// nothing: the batch completion walks it once, front to back, unlinking and waking every waiter
// whose ticket is committed. A waiter that goes away first (its coroutine destroyed: the client
// left, the loop stopped) unlinks itself; a list destroyed first detaches its waiters, so a later
// waiter destructor touches nothing. Sans-I/O and loop thread only: what "wake" means is the
// waiter's (Scheduler: post the parked coroutine's resumption, jobs/scheduler_commits.cpp).
#pragma once

#include <cstddef>

#include "store/job_row.hpp"

namespace jobd::jobs {

class CommitWaiters {
 public:
  class Waiter {
   public:
    Waiter() = default;
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
    bool linked() const { return owner_ != nullptr; }
    store::Ticket ticket() const { return ticket_; }

   protected:
    virtual ~Waiter() { unlink(); }
    // Runs once, from wake_through(), after this waiter was unlinked (it may destroy itself).
    virtual void woken() = 0;
    // Leaves the list unwoken (a cancelled wait); nothing when not linked.
    void unlink();

   private:
    friend class CommitWaiters;

    CommitWaiters* owner_ = nullptr;
    Waiter* prev_ = nullptr;
    Waiter* next_ = nullptr;
    store::Ticket ticket_ = 0;
  };

  CommitWaiters() = default;
  CommitWaiters(const CommitWaiters&) = delete;
  CommitWaiters& operator=(const CommitWaiters&) = delete;
  ~CommitWaiters();

  // Links `waiter` (not linked yet) to wake once `ticket` is committed. Kept by ticket, equal
  // tickets by arrival; a wait is nearly always for the newest ticket, so this is O(1) then.
  void add(Waiter& waiter, store::Ticket ticket);
  // Unlinks and wakes, in order, every waiter whose ticket is <= `through`. A waiter woken may
  // add or remove waiters; those added for a later ticket wait for a later batch.
  void wake_through(store::Ticket through);
  std::size_t size() const { return size_; }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace jobd::jobs
