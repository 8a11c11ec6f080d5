#include "api/event_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "jobs/record.hpp"
#include "kinds/kind.hpp"

namespace jobd::api {

namespace asio = boost::asio;
using jobs::EventType;

std::string render_sse(const jobs::Job& job, const jobs::JobEvent& event, bool with_id) {
  std::string frame;
  if (with_id) {
    frame += "id: ";
    frame += std::to_string(event.id);
    frame += '\n';
  }
  frame += "event: ";
  frame += jobs::to_string(event.type);
  frame += "\ndata: ";
  switch (event.type) {
    case EventType::state:
      // The job record as it is now, with the state of this event (a replayed older event
      // reports the state it announced) and when it happened.
      jobs::append_record(frame, job, {.state = event.state, .at = event.at});
      break;
    case EventType::progress:
      frame += "{\"id\":";
      jobs::append_json_string(frame, job.id);
      frame += ",\"fraction\":";
      frame += nlohmann::json(event.fraction).dump();
      frame += ",\"text\":";
      jobs::append_json_string(frame, event.text);
      frame += '}';
      break;
    case EventType::stdout_line:
    case EventType::stderr_line:
      frame += "{\"id\":";
      jobs::append_json_string(frame, job.id);
      frame += ",\"line\":";
      jobs::append_json_string(frame, event.text);
      frame += '}';
      break;
  }
  frame += "\n\n";
  return frame;
}

namespace {
// The frame of the event being fanned out, rendered once for all of a job's subscribers: with a
// thousand subscribers, rendering per subscriber would be a thousand JSON dumps per event.
const std::string& shared_frame(const jobs::Job& job, const jobs::JobEvent& event) {
  thread_local jobs::JobSeq seq = 0;
  thread_local std::uint64_t id = 0;
  thread_local std::string frame;
  if (seq != job.seq || id != event.id) {
    frame = render_sse(job, event, true);
    seq = job.seq;
    id = event.id;
  }
  return frame;
}
}  // namespace

EventQueue::EventQueue(asio::any_io_executor loop, EventStreamOptions options)
    : wake_(loop, asio::steady_timer::time_point::max()), options_(options) {
  if (options_.open_streams) ++*options_.open_streams;
}

EventQueue::~EventQueue() {
  if (options_.open_streams) --*options_.open_streams;
}

void EventQueue::push(std::string frame, bool must_deliver) {
  if (pending_.size() >= options_.buffer && !must_deliver) {
    ++dropped_;
    return;
  }
  pending_.push_back(std::move(frame));
  wake_.cancel();
}

void EventQueue::end() {
  ended_ = true;
  wake_.cancel();
}

void EventQueue::close() { end(); }

asio::awaitable<std::optional<std::string>> EventQueue::next() {
  if (pending_.empty() && dropped_ == 0 && !ended_) {
    wake_.expires_after(options_.heartbeat);
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
    // A comment line keeps proxies and load balancers from closing an idle stream.
    if (pending_.empty() && dropped_ == 0 && !ended_) co_return std::string(": keep-alive\n\n");
  }
  std::string out;
  if (dropped_ > 0) {
    out += "event: dropped\ndata: {\"count\":" + std::to_string(dropped_) + "}\n\n";
    dropped_ = 0;
  }
  // Everything queued goes out in one write: a slow reader catches up in few system calls.
  while (!pending_.empty()) {
    out += pending_.front();
    pending_.pop_front();
  }
  if (out.empty()) co_return std::nullopt;  // ended, and nothing left
  co_return out;
}

JobEventStream::JobEventStream(asio::any_io_executor loop, EventStreamOptions options, jobs::JobTable& table,
                               const jobs::Job& job, std::uint64_t after_id)
    : EventQueue(std::move(loop), options), table_(table), seq_(job.seq) {
  // Replay what the history still holds; a gap (events older than the history) is reported
  // as dropped rather than silently skipped.
  if (job.first_kept_event > after_id + 1 && after_id + 1 < job.next_event_id) {
    const auto missing = job.first_kept_event - after_id - 1;
    push("event: dropped\ndata: {\"count\":" + std::to_string(missing) + "}\n\n", true);
  }
  for (const auto& event : job.history()) {
    if (event.id > after_id) push(render_sse(job, event, true), true);
  }
  if (proto::is_final(job.state)) {
    end();
    return;
  }
  watch_ = table_.watch(
      seq_,
      [this](const jobs::Job& changed, const jobs::JobEvent& event) {
        const bool final = event.type == EventType::state && proto::is_final(event.state);
        push(shared_frame(changed, event), final);
        if (final) end();
      },
      jobs::Watch::events);
}

JobEventStream::~JobEventStream() {
  if (watch_) table_.unwatch(seq_, *watch_);
}

AllEventsStream::AllEventsStream(asio::any_io_executor loop, EventStreamOptions options,
                                 jobs::JobTable& table, std::optional<std::string> kind,
                                 std::optional<proto::JobState> state)
    : EventQueue(std::move(loop), options), table_(table) {
  watch_ = table_.watch_all(
      [this, kind = std::move(kind), state](const jobs::Job& job, const jobs::JobEvent& event) {
        if (kind && job.kind->name != *kind) return;
        if (state && event.state != *state) return;
        push(render_sse(job, event, false), false);
      },
      jobs::WatchAll::stream);
}

AllEventsStream::~AllEventsStream() { table_.unwatch_all(watch_); }

}  // namespace jobd::api
