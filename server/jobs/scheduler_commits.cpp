// Scheduler: the waits on the job table's commits (a durable store shows nothing to a client
// before it is committed: jobs/job_table.hpp). Without one, each wait returns at once.
#include <algorithm>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "jobs/scheduler.hpp"

namespace jobd::jobs {

namespace asio = boost::asio;

namespace {

// The suspended coroutine: resuming it is calling this once; destroying it uncalled destroys
// the coroutine's frames.
using Resume = asio::async_result<asio::use_awaitable_t<>, void(bool)>::handler_type;

class ParkedWaiter;

// The coroutines parked in a commit wait, per io_context: its shutdown destroys them, as it
// destroys a pending timer's handler (each holds the only reference to its coroutine's frames).
class ParkedWaiters final : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;
  explicit ParkedWaiters(asio::execution_context& context) : asio::execution_context::service(context) {}
  void link(ParkedWaiter& waiter);
  void unlink(ParkedWaiter& waiter);

 private:
  void shutdown() override;
  ParkedWaiter* head_ = nullptr;
};

// One wait, in the waiting coroutine's frame. The coroutine parks its own resumption here (no
// timer: a timer cost a reactor registration, two cancellations and their locks per wait); the
// table's batch completion unlinks it and posts the resumption with true. A cancellation (the
// client left: http/peer_watch.hpp) unlinks it and resumes with false. Loop thread only.
class ParkedWaiter final : public CommitWaiters::Waiter {
 public:
  explicit ParkedWaiter(const asio::any_io_executor& loop)
      : loop_(loop), parked_(asio::use_service<ParkedWaiters>(asio::query(loop, asio::execution::context))) {}
  ~ParkedWaiter() override { parked_.unlink(*this); }

  // Completes with true once woken, false when cancelled first.
  auto wait() {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(bool)>(
        [this](Resume resume) { park(std::move(resume)); }, asio::use_awaitable);
  }

  // Shutdown: destroys the coroutine (and so this waiter, which lives in its frame).
  void abandon() {
    Resume resume = std::move(*resume_);
    resume_.reset();
  }

 private:
  friend class ParkedWaiters;
  struct Cancel {
    ParkedWaiter* waiter;
    void operator()(asio::cancellation_type_t) const { waiter->cancelled(); }
  };

  void park(Resume resume) {
    resume_.emplace(std::move(resume));
    parked_.link(*this);
    // Cleared by the coroutine itself when it resumes (asio clears its slot then); until then
    // a cancellation after the wake finds resume_ empty and does nothing.
    auto slot = asio::get_associated_cancellation_slot(*resume_);
    if (slot.is_connected()) slot.template emplace<Cancel>(Cancel{this});
  }
  void woken() override { resume(true); }
  void cancelled() {
    if (!resume_) return;
    unlink();
    resume(false);
  }
  void resume(bool committed) {
    parked_.unlink(*this);
    // Posted, as the timer's completion was: the coroutine runs after the batch is settled.
    asio::post(loop_, [resume = std::move(*resume_), committed]() mutable { std::move(resume)(committed); });
    resume_.reset();
  }

  asio::any_io_executor loop_;
  ParkedWaiters& parked_;
  std::optional<Resume> resume_;
  ParkedWaiter* prev_parked_ = nullptr;
  ParkedWaiter* next_parked_ = nullptr;
  bool in_parked_ = false;
};

void ParkedWaiters::link(ParkedWaiter& waiter) {
  waiter.prev_parked_ = nullptr;
  waiter.next_parked_ = head_;
  if (head_ != nullptr) head_->prev_parked_ = &waiter;
  head_ = &waiter;
  waiter.in_parked_ = true;
}

void ParkedWaiters::unlink(ParkedWaiter& waiter) {
  if (!waiter.in_parked_) return;
  (waiter.prev_parked_ ? waiter.prev_parked_->next_parked_ : head_) = waiter.next_parked_;
  if (waiter.next_parked_ != nullptr) waiter.next_parked_->prev_parked_ = waiter.prev_parked_;
  waiter.prev_parked_ = waiter.next_parked_ = nullptr;
  waiter.in_parked_ = false;
}

void ParkedWaiters::shutdown() {
  while (head_ != nullptr) {
    ParkedWaiter& waiter = *head_;
    unlink(waiter);
    waiter.abandon();
  }
}

}  // namespace

void Scheduler::hold_insert(JobSeq seq) {
  const auto now = std::chrono::steady_clock::now();
  held_inserts_.push_back({seq, now});
  if (!hold_timer_armed_) arm_hold_timer(now + options_.insert_hold);
}

void Scheduler::arm_hold_timer(std::chrono::steady_clock::time_point at) {
  hold_timer_armed_ = true;
  hold_timer_.expires_at(at);
  hold_timer_.async_wait([this](boost::system::error_code error) {
    hold_timer_armed_ = false;
    if (error) return;
    const auto now = std::chrono::steady_clock::now();
    release_held_inserts(now - options_.insert_hold);
    // Under load a hold begins every few microseconds: the timer is not re-armed sooner than a
    // quarter of the hold, so it fires at most four times a hold (a hold lasts up to 1.25 x).
    if (!held_inserts_.empty())
      arm_hold_timer(
          std::max(held_inserts_.front().since + options_.insert_hold, now + options_.insert_hold / 4));
  });
}

void Scheduler::release_held_inserts(std::chrono::steady_clock::time_point held_since_before) {
  // Most entries are of jobs that ended within the hold (their insert written final): for those
  // release_insert finds nothing to do.
  while (!held_inserts_.empty() && held_inserts_.front().since <= held_since_before) {
    table_.release_insert(held_inserts_.front().seq);
    held_inserts_.pop_front();
  }
}

void Scheduler::begin_drain() {
  draining_ = true;
  // What jobd stops with is written as it is: a job still running then is found at the next
  // start, as without a hold.
  release_held_inserts(std::chrono::steady_clock::time_point::max());
}

asio::awaitable<bool> Scheduler::wait_committed(JobSeq seq) {
  ParkedWaiter waiter(loop_);
  if (!table_.wait_committed(seq, waiter)) co_return true;
  const bool committed = co_await waiter.wait();
  co_return committed;
}

asio::awaitable<bool> Scheduler::wait_final_applied(JobSeq seq) {
  ParkedWaiter waiter(loop_);
  if (!table_.wait_final_applied(seq, waiter)) co_return true;
  const bool applied = co_await waiter.wait();
  co_return applied;
}

}  // namespace jobd::jobs
