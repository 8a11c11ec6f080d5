#include "store/change_batch.hpp"

#include <utility>

namespace jobd::store {
namespace {

void take_mutable(JobRow& into, JobRow& from) {
  into.state = from.state;
  into.started_at_ms = from.started_at_ms;
  into.finished_at_ms = from.finished_at_ms;
  into.run_at_ms = from.run_at_ms;
  into.attempt = from.attempt;
  into.result_json = std::move(from.result_json);
  into.error_type = std::move(from.error_type);
  into.error_message = std::move(from.error_message);
  into.details_json = std::move(from.details_json);
  into.attempts_json = std::move(from.attempts_json);
}

}  // namespace

void BatchCoalescer::coalesce(std::vector<Change>& batch) {
  apply_.assign(batch.size(), true);
  latest_.clear();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    Change& change = batch[i];
    const auto [at, first] = latest_.try_emplace(change.row.seq, i);
    if (first) continue;
    Change& earlier = batch[at->second];
    if (change.op == ChangeOp::update && earlier.op != ChangeOp::remove) {
      take_mutable(earlier.row, change.row);
      apply_[i] = false;
    } else if (change.op == ChangeOp::remove && earlier.op == ChangeOp::insert) {
      apply_[at->second] = false;
      apply_[i] = false;
      latest_.erase(at);
    } else if (change.op == ChangeOp::remove && earlier.op == ChangeOp::update) {
      apply_[at->second] = false;
      at->second = i;
    } else {  // an insert after anything, an update after a remove: kept as they are, in order
      at->second = i;
    }
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!apply_[i]) continue;
    if (kept != i) batch[kept] = std::move(batch[i]);
    ++kept;
  }
  batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(kept), batch.end());
}

}  // namespace jobd::store
