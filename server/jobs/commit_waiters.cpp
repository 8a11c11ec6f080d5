#include "jobs/commit_waiters.hpp"

namespace jobd::jobs {

void CommitWaiters::Waiter::unlink() {
  if (owner_ == nullptr) return;
  CommitWaiters& list = *owner_;
  (prev_ ? prev_->next_ : list.head_) = next_;
  (next_ ? next_->prev_ : list.tail_) = prev_;
  --list.size_;
  owner_ = nullptr;
  prev_ = next_ = nullptr;
}

CommitWaiters::~CommitWaiters() {
  while (head_ != nullptr) head_->unlink();
}

void CommitWaiters::add(Waiter& waiter, store::Ticket ticket) {
  waiter.unlink();
  waiter.ticket_ = ticket;
  waiter.owner_ = this;
  // After the last waiter whose ticket is <= this one (from the back: usually the tail itself).
  Waiter* after = tail_;
  while (after != nullptr && after->ticket_ > ticket) after = after->prev_;
  waiter.prev_ = after;
  waiter.next_ = after ? after->next_ : head_;
  (waiter.next_ ? waiter.next_->prev_ : tail_) = &waiter;
  (after ? after->next_ : head_) = &waiter;
  ++size_;
}

void CommitWaiters::wake_through(store::Ticket through) {
  // One at a time from the head: woken() may unlink other waiters or add new ones.
  while (head_ != nullptr && head_->ticket_ <= through) {
    Waiter& waiter = *head_;
    waiter.unlink();
    waiter.woken();
  }
}

}  // namespace jobd::jobs
