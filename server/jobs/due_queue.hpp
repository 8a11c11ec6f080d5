// DueQueue: the jobs that wait for a time (a delayed job's run_at, a retry's backoff), ordered
// by when they are due, then by seq. Sans-I/O: the scheduler owns the one timer and arms it for
// earliest(); push() says when a new job became the earliest, so the timer is re-armed only
// then. No polling: nothing runs until the earliest job is due.
//
// Loop thread only, like the scheduler that owns it. O(log n) push, remove and pop.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include "jobs/job.hpp"

namespace jobd::jobs {

class DueQueue {
 public:
  // Adds (or moves) a job; returns true when it is now the earliest, i.e. the timer must be
  // re-armed for it.
  bool push(JobSeq seq, Clock::time_point due);
  // Takes a job out (a cancel); returns whether it was waiting.
  bool remove(JobSeq seq);
  // The earliest job whose time has come (due <= now), taken out; nullopt when none is due.
  std::optional<JobSeq> pop_due(Clock::time_point now);

  std::optional<Clock::time_point> earliest() const;
  bool contains(JobSeq seq) const { return due_of_.contains(seq); }
  std::size_t size() const { return due_of_.size(); }
  bool empty() const { return due_of_.empty(); }

 private:
  std::set<std::pair<Clock::time_point, JobSeq>> order_;
  std::unordered_map<JobSeq, Clock::time_point> due_of_;
};

}  // namespace jobd::jobs
