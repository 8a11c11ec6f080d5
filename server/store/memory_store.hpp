// MemoryStore: the store of `--store memory:`, which keeps nothing.
//
// durable() is false, so the job table builds no rows for it and jobd behaves as it did before
// stores existed: a restart forgets every job. Tickets still increase and when_durable runs its
// callback at once, so code written for a durable store works unchanged. Never blocks, never
// fails, owns no thread.
#pragma once

#include "store/job_store.hpp"

namespace jobd::store {

class MemoryStore final : public JobStore {
 public:
  bool durable() const noexcept override { return false; }
  LoadResult load(const RowVisitor&) override { return {}; }
  using JobStore::write;
  Ticket write(ChangeOp, const RowRef&) override { return ++last_ticket_; }
  void when_durable(Ticket, std::function<void()> done) override { done(); }
  void set_durable_listener(std::function<void(Ticket)>) override {}  // nothing is ever pending
  StoreHealth health() const override { return {}; }
  void set_observer(StoreObserver) override {}
  StoreHealth close() override { return {}; }

 private:
  Ticket last_ticket_ = 0;
};

}  // namespace jobd::store
