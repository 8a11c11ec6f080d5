// Scheduler: the waits on the job table's commits (a durable store shows nothing to a client
// before it is committed: jobs/job_table.hpp). Without one, each wait returns at once.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "jobs/scheduler.hpp"

namespace jobd::jobs {

namespace asio = boost::asio;

asio::awaitable<bool> Scheduler::wait_for_table(const std::function<void(std::function<void()>)>& subscribe) {
  // The table's callback wakes this coroutine by cancelling its timer. Both are shared with the
  // callback, which may run after this coroutine ended (cancelled when its client left).
  auto timer = std::make_shared<asio::steady_timer>(loop_, std::chrono::steady_clock::time_point::max());
  auto done = std::make_shared<bool>(false);
  subscribe([timer, done] {
    *done = true;
    timer->cancel();
  });
  if (*done) co_return true;
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  co_return *done;
}

asio::awaitable<bool> Scheduler::wait_committed(JobSeq seq) {
  if (table_.committed(seq)) co_return true;
  // Named, not a temporary in the co_await (GCC 12, DESIGN §9 rule 2).
  const std::function<void(std::function<void()>)> subscribe = [this, seq](std::function<void()> done) {
    table_.when_committed(seq, std::move(done));
  };
  const bool committed = co_await wait_for_table(subscribe);
  co_return committed;
}

asio::awaitable<bool> Scheduler::wait_final_applied(JobSeq seq) {
  if (!table_.final_pending(seq)) co_return true;
  const std::function<void(std::function<void()>)> subscribe = [this, seq](std::function<void()> done) {
    table_.when_final_applied(seq, std::move(done));
  };
  const bool applied = co_await wait_for_table(subscribe);
  co_return applied;
}

}  // namespace jobd::jobs
