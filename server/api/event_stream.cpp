#include "api/event_stream.hpp"

#include <algorithm>
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
// How long the first event waits for others before GET /v1/events readers are woken. Each
// stream then writes everything since its last write at once. A write costs the loop a system
// call and a few microseconds per stream, so the wake-ups, not the events, set what streams
// cost: at most 50 writes a second each, however busy the server (500 streams woken at every
// event took ~0.5 s of loop CPU a second; bench/RESULTS.md). 20 ms is under a frame of a live
// view.
constexpr auto kAllEventsFlush = std::chrono::milliseconds(20);

// The frame of the event being fanned out to one job's subscribers, rendered for the first and
// shared by the others.
SharedFrame shared_frame(const jobs::Job& job, const jobs::JobEvent& event) {
  thread_local jobs::JobSeq seq = 0;
  thread_local std::uint64_t id = 0;
  thread_local SharedFrame frame;
  if (seq != job.seq || id != event.id) {
    frame = SharedFrame(render_sse(job, event, true));
    seq = job.seq;
    id = event.id;
  }
  return frame;
}

std::string dropped_frame(std::uint64_t count) {
  return "event: dropped\ndata: {\"count\":" + std::to_string(count) + "}\n\n";
}
}  // namespace

EventQueue::EventQueue(const asio::any_io_executor& loop, EventStreamOptions options)
    : wake_(loop, asio::steady_timer::time_point::max()), options_(options) {
  if (options_.open_streams) ++*options_.open_streams;
}

EventQueue::~EventQueue() {
  if (options_.open_streams) --*options_.open_streams;
}

void EventQueue::wake() {
  if (!waiting_) return;
  waiting_ = false;
  wake_.cancel();
}

void EventQueue::push(SharedFrame frame, bool must_deliver, bool wake_reader) {
  if (pending_.size() >= options_.buffer && !must_deliver) {
    ++dropped_;
    return;
  }
  pending_bytes_ += frame.text().size();
  pending_.push_back(std::move(frame));
  // A reader left for flush() is still woken once half its buffer is used, so a reader that
  // keeps up never drops because it was woken late.
  if (wake_reader || 2 * pending_.size() >= options_.buffer) wake();
}

void EventQueue::flush() {
  if (!pending_.empty() || dropped_ > 0) wake();
}

void EventQueue::end() {
  ended_ = true;
  wake();
}

void EventQueue::close() { end(); }

asio::awaitable<std::optional<std::string>> EventQueue::next() {
  if (pending_.empty() && dropped_ == 0 && !ended_) {
    wake_.expires_after(options_.heartbeat);
    waiting_ = true;
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
    waiting_ = false;
    // A comment line keeps proxies and load balancers from closing an idle stream.
    if (pending_.empty() && dropped_ == 0 && !ended_) co_return std::string(": keep-alive\n\n");
  }
  std::string out;
  if (dropped_ > 0) {
    out = dropped_frame(dropped_);
    dropped_ = 0;
  }
  // Everything queued goes out in one write: a slow reader catches up in few system calls.
  out.reserve(out.size() + pending_bytes_);
  for (const auto& frame : pending_) out += frame.text();
  pending_.clear();
  pending_bytes_ = 0;
  if (out.empty()) co_return std::nullopt;  // ended, and nothing left
  co_return out;
}

JobEventStream::JobEventStream(const asio::any_io_executor& loop, EventStreamOptions options,
                               jobs::JobTable& table, const jobs::Job& job, std::uint64_t after_id)
    : EventQueue(loop, options), table_(table), seq_(job.seq) {
  // Replay what the history still holds; a gap (events older than the history) is reported
  // as dropped rather than silently skipped.
  if (job.first_kept_event > after_id + 1 && after_id + 1 < job.next_event_id) {
    push(dropped_frame(job.first_kept_event - after_id - 1), true);
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

AllEventsHub::AllEventsHub(const asio::any_io_executor& loop, jobs::JobTable& table)
    : table_(table), flush_(loop) {}

AllEventsHub::~AllEventsHub() {
  if (watch_) table_.unwatch_all(*watch_);
}

void AllEventsHub::subscribe(AllEventsStream& stream) {
  streams_.push_back(&stream);
  if (!watch_) {
    watch_ =
        table_.watch_all([this](const jobs::Job& job, const jobs::JobEvent& event) { fan_out(job, event); },
                         jobs::WatchAll::stream);
  }
}

void AllEventsHub::unsubscribe(AllEventsStream& stream) {
  auto it = std::find(streams_.begin(), streams_.end(), &stream);
  if (it == streams_.end()) return;
  *it = streams_.back();
  streams_.pop_back();
  if (streams_.empty() && watch_) {
    table_.unwatch_all(*watch_);
    watch_.reset();
  }
}

void AllEventsHub::fan_out(const jobs::Job& job, const jobs::JobEvent& event) {
  // Nothing here can open or close a stream (deliver only queues), so streams_ holds still.
  SharedFrame frame;
  for (AllEventsStream* stream : streams_) {
    if (!stream->wants(job, event)) continue;
    if (!frame) {
      frame = SharedFrame(render_sse(job, event, false));
      ++renders_;
    }
    stream->deliver(frame);
  }
  if (frame && !flush_armed_) {
    flush_armed_ = true;
    flush_.expires_after(kAllEventsFlush);
    flush_.async_wait([this](boost::system::error_code error) {
      if (error) return;  // the hub is going away
      flush();
    });
  }
}

void AllEventsHub::flush() {
  flush_armed_ = false;
  for (AllEventsStream* stream : streams_) stream->flush();
}

AllEventsStream::AllEventsStream(const asio::any_io_executor& loop, EventStreamOptions options,
                                 AllEventsHub& hub, std::optional<std::string> kind,
                                 std::optional<proto::JobState> state)
    : EventQueue(loop, options), hub_(hub), kind_(std::move(kind)), state_(state) {
  hub_.subscribe(*this);
}

AllEventsStream::~AllEventsStream() { hub_.unsubscribe(*this); }

bool AllEventsStream::wants(const jobs::Job& job, const jobs::JobEvent& event) const {
  return (!kind_ || job.kind->name == *kind_) && (!state_ || event.state == *state_);
}

}  // namespace jobd::api
