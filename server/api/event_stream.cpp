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
  append_sse(frame, job, event, with_id);
  return frame;
}

void append_sse(std::string& frame, const jobs::Job& job, const jobs::JobEvent& event, bool with_id) {
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
}

namespace {
// How long the first event waits for others before its GET /v1/events batch goes to the fan-out
// thread. Each stream then writes everything since its last write at once: the batches, not the
// events, set how often streams write (at most 50 times a second each, however busy the server;
// a write per stream and event took ~0.5 s of CPU a second at 500 streams, bench/RESULTS.md),
// and one post carries them all. 20 ms is under a frame of a live view.
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

void EventQueue::push(SharedFrame frame, bool must_deliver) {
  if (pending_.size() >= options_.buffer && !must_deliver) {
    ++dropped_;
    return;
  }
  pending_bytes_ += frame.text().size();
  pending_.push_back(std::move(frame));
  wake();
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

AllEventsHub::AllEventsHub(const asio::any_io_executor& loop, jobs::JobTable& table, EventFanout& fanout,
                           std::size_t buffer)
    : table_(table),
      fanout_(fanout),
      batch_frames_(std::max<std::size_t>(1, buffer / 2)),
      batch_(std::make_shared<FrameBatch>()),
      flush_(loop) {}

AllEventsHub::~AllEventsHub() {
  if (watch_) table_.unwatch_all(*watch_);
}

FramePosition AllEventsHub::subscribe() {
  ++streams_;
  if (!watch_ && !external_) {
    watch_ = table_.watch_all([this](const jobs::Job& job, const jobs::JobEvent& event) { add(job, event); },
                              jobs::WatchAll::stream);
  }
  unopened_.insert(batch_->seq);
  return {batch_->seq, batch_->frames.size()};
}

void AllEventsHub::opened(const FramePosition& from) {
  if (auto it = unopened_.find(from.seq); it != unopened_.end()) unopened_.erase(it);
}

void AllEventsHub::unsubscribe(const FramePosition& from, bool was_opened) {
  if (!was_opened) opened(from);
  if (streams_ == 0) return;
  if (--streams_ == 0 && watch_) {
    table_.unwatch_all(*watch_);
    watch_.reset();
  }
}

void AllEventsHub::add(const jobs::Job& job, const jobs::JobEvent& event) {
  // Rendered in place at the end of the batch's text: one render, no copy, whatever the number
  // of streams.
  const std::size_t offset = batch_->text.size();
  append_sse(batch_->text, job, event, false);
  batch_->frames.push_back({static_cast<std::uint32_t>(offset),
                            static_cast<std::uint32_t>(batch_->text.size() - offset),
                            static_cast<std::uint32_t>(batch_->kinds.size()),
                            static_cast<std::uint32_t>(job.kind->name.size()), event.state});
  batch_->kinds += job.kind->name;
  ++renders_;
  // A stream takes a batch at once: one bigger than half its buffer would drop frames of a
  // reader that keeps up.
  if (batch_->frames.size() >= batch_frames_) {
    flush();
    return;
  }
  if (!flush_armed_) {
    flush_armed_ = true;
    flush_.expires_after(kAllEventsFlush);
    flush_.async_wait([this](boost::system::error_code error) {
      if (error) return;  // the hub is going away
      flush_armed_ = false;
      flush();
    });
  }
}

void AllEventsHub::flush() {
  if (batch_->frames.empty()) return;
  auto next = std::make_shared<FrameBatch>();
  next->seq = batch_->seq + 1;
  const std::uint64_t keep_from = unopened_.empty() ? next->seq : *unopened_.begin();
  fanout_.publish(std::exchange(batch_, std::move(next)), keep_from);
}

AllEventsStream::AllEventsStream(asio::any_io_executor loop, EventStreamOptions options, AllEventsHub& hub,
                                 EventFilter filter)
    : loop_(std::move(loop)),
      options_(options),
      hub_(hub),
      filter_(std::move(filter)),
      from_(hub_.subscribe()) {
  if (options_.open_streams) ++*options_.open_streams;
}

AllEventsStream::~AllEventsStream() {
  if (options_.open_streams) --*options_.open_streams;
  if (serving_) hub_.fanout().close(*serving_);
  hub_.unsubscribe(from_, opened_);
}

asio::awaitable<std::optional<std::string>> AllEventsStream::next() { co_return std::nullopt; }

void AllEventsStream::close() {
  closed_ = true;
  if (serving_) hub_.fanout().close(*serving_);
}

asio::awaitable<int> AllEventsStream::serve(int fd) {
  if (closed_) co_return fd;
  auto link = std::make_shared<Link>(loop_);
  hub_.opened(from_);
  opened_ = true;
  serving_ = hub_.fanout().open(
      fd, filter_, from_, {options_.buffer, options_.heartbeat, options_.write_timeout}, [link](int back) {
        link->fd = back;
        link->ended = true;
        link->done.cancel();
      });
  // Ended only by the fan-out thread, which gives the descriptor back: a cancellation of the
  // session meanwhile must not leave it there.
  while (!link->ended) {
    auto [error] = co_await link->done.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)error;
  }
  serving_.reset();
  co_return link->fd;
}

}  // namespace jobd::api
