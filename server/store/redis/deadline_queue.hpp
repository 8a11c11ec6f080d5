// DeadlineQueue: the commands in flight on one connection, oldest first, each with the time by
// which its reply must arrive, and the earliest of those times in O(1).
//
// Replies come back in the order the commands went out, so the queue pops at the front only;
// but deadlines need not be in order (a BLOCK command waits longer than the PING behind it), so
// the earliest deadline is kept by a monotonic deque (the sliding-window minimum): each push drops
// the later deadlines at the back, each pop drops the front minimum if it left. One timer per
// connection is armed at earliest(), instead of one timer per command.
//
// Must never: read a clock or do I/O (pure; unit-tested).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <utility>

namespace jobd::store::redis {

template <typename T>
class DeadlineQueue {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  void push(T item, TimePoint deadline) {
    while (!minima_.empty() && minima_.back().first >= deadline) minima_.pop_back();
    minima_.emplace_back(deadline, next_seq_);
    entries_.push_back(Entry{std::move(item), deadline, next_seq_++});
  }

  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  T& front() { return entries_.front().item; }
  TimePoint front_deadline() const { return entries_.front().deadline; }
  // The earliest deadline of all entries. Precondition: !empty().
  TimePoint earliest() const { return minima_.front().first; }

  T pop() {
    Entry& head = entries_.front();
    if (minima_.front().second == head.seq) minima_.pop_front();
    T item = std::move(head.item);
    entries_.pop_front();
    return item;
  }

 private:
  struct Entry {
    T item;
    TimePoint deadline;
    std::uint64_t seq;
  };
  std::deque<Entry> entries_;
  std::deque<std::pair<TimePoint, std::uint64_t>> minima_;  // deadlines increasing front to back
  std::uint64_t next_seq_ = 0;
};

}  // namespace jobd::store::redis
