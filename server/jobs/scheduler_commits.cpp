// Scheduler: the waits on the job table's commits (a durable store shows nothing to a client
// before it is committed: jobs/job_table.hpp). Without one, each wait returns at once.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "jobs/scheduler.hpp"

namespace jobd::jobs {

namespace asio = boost::asio;

namespace {

// One wait, in the waiting coroutine's frame: no allocation of its own. The table's batch
// completion unlinks it, sets `done` and cancels the timer, which resumes the coroutine; a
// cancellation (the client left: http/peer_watch.hpp) ends the timer wait with `done` false,
// and the waiter unlinks itself when the frame goes.
class TimerWaiter final : public CommitWaiters::Waiter {
 public:
  explicit TimerWaiter(const asio::any_io_executor& loop)
      : timer(loop, std::chrono::steady_clock::time_point::max()) {}
  ~TimerWaiter() override = default;

  asio::steady_timer timer;
  bool done = false;

 private:
  void woken() override {
    done = true;
    timer.cancel();
  }
};

}  // namespace

asio::awaitable<bool> Scheduler::wait_committed(JobSeq seq) {
  TimerWaiter waiter(loop_);
  if (!table_.wait_committed(seq, waiter)) co_return true;
  co_await waiter.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return waiter.done;
}

asio::awaitable<bool> Scheduler::wait_final_applied(JobSeq seq) {
  TimerWaiter waiter(loop_);
  if (!table_.wait_final_applied(seq, waiter)) co_return true;
  co_await waiter.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return waiter.done;
}

}  // namespace jobd::jobs
