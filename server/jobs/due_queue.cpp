#include "jobs/due_queue.hpp"

namespace jobd::jobs {

bool DueQueue::push(JobSeq seq, Clock::time_point due) {
  if (auto it = due_of_.find(seq); it != due_of_.end()) {
    order_.erase({it->second, seq});
    it->second = due;
  } else {
    due_of_.emplace(seq, due);
  }
  const auto position = order_.emplace(due, seq).first;
  return position == order_.begin();
}

bool DueQueue::remove(JobSeq seq) {
  auto it = due_of_.find(seq);
  if (it == due_of_.end()) return false;
  order_.erase({it->second, seq});
  due_of_.erase(it);
  return true;
}

std::optional<JobSeq> DueQueue::pop_due(Clock::time_point now) {
  if (order_.empty() || order_.begin()->first > now) return std::nullopt;
  const JobSeq seq = order_.begin()->second;
  order_.erase(order_.begin());
  due_of_.erase(seq);
  return seq;
}

std::optional<Clock::time_point> DueQueue::earliest() const {
  if (order_.empty()) return std::nullopt;
  return order_.begin()->first;
}

}  // namespace jobd::jobs
