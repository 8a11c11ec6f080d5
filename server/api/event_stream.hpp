// Server-Sent Events over the job table: one job's events (GET /v1/jobs/{id}/events) or every
// job's state changes (GET /v1/events).
//
// A subscriber never slows a job or other subscribers: events go into its own bounded queue;
// beyond the bound they are counted and reported as one `dropped` event (a job's final state
// is always delivered). A frame is rendered once per event, however many subscribers queue it
// (SharedFrame). Loop thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "api/shared_frame.hpp"
#include "http/body_stream.hpp"
#include "jobs/job_table.hpp"

namespace jobd::api {

struct EventStreamOptions {
  std::size_t buffer = 1024;  // events queued for one subscriber before it drops
  std::chrono::milliseconds heartbeat{15'000};
  std::size_t* open_streams = nullptr;  // counts live streams, for metrics
};

// One SSE frame for a job event (a state event carries the whole job record).
std::string render_sse(const jobs::Job& job, const jobs::JobEvent& event, bool with_id);

class EventQueue : public http::BodyStream {
 public:
  EventQueue(const boost::asio::any_io_executor& loop, EventStreamOptions options);
  ~EventQueue() override;
  boost::asio::awaitable<std::optional<std::string>> next() override;
  void close() override;

 protected:
  // Queues a frame and wakes the reader, unless `wake` is false (then flush() will, or the
  // queue reaching half its bound).
  void push(SharedFrame frame, bool must_deliver, bool wake = true);
  void push(std::string frame, bool must_deliver) { push(SharedFrame(std::move(frame)), must_deliver); }
  void end();
  // Wakes the reader if it waits and something is queued.
  void flush();

 private:
  void wake();

  boost::asio::steady_timer wake_;
  EventStreamOptions options_;
  std::deque<SharedFrame> pending_;
  std::size_t pending_bytes_ = 0;
  std::uint64_t dropped_ = 0;
  bool ended_ = false;
  // next() waits on wake_: the first push cancels the wait; later ones need not (a cancel takes
  // the reactor's lock, and a fan-out would take it once per subscriber and event).
  bool waiting_ = false;
};

class JobEventStream final : public EventQueue {
 public:
  // Replays the job's retained events after `after_id` (Last-Event-ID), then follows it live.
  JobEventStream(const boost::asio::any_io_executor& loop, EventStreamOptions options, jobs::JobTable& table,
                 const jobs::Job& job, std::uint64_t after_id);
  ~JobEventStream() override;

 private:
  jobs::JobTable& table_;
  jobs::JobSeq seq_;
  std::optional<jobs::WatchId> watch_;
};

class AllEventsStream;

// The one watcher of every job's state changes behind all GET /v1/events streams. An event is
// rendered once, when the first stream whose filter it passes wants it, and that frame is queued
// for every stream it passes; a filter costs a comparison, not a render. Readers are woken
// together 20 ms after the first event (a stream alone once half its buffer is used), not at
// each event: each stream then sends all it got in one write, where waking at each event would
// cost a write per stream and event. Watches the table only while a stream is open, so
// JobControl::live() tells executors whether starts have a live reader.
class AllEventsHub {
 public:
  AllEventsHub(const boost::asio::any_io_executor& loop, jobs::JobTable& table);
  ~AllEventsHub();
  AllEventsHub(const AllEventsHub&) = delete;
  AllEventsHub& operator=(const AllEventsHub&) = delete;

  void subscribe(AllEventsStream& stream);
  void unsubscribe(AllEventsStream& stream);
  // Frames rendered so far: one per event that at least one stream wanted.
  std::uint64_t renders() const { return renders_; }

 private:
  void fan_out(const jobs::Job& job, const jobs::JobEvent& event);
  void flush();

  jobs::JobTable& table_;
  std::optional<jobs::WatchId> watch_;
  std::vector<AllEventsStream*> streams_;
  boost::asio::steady_timer flush_;
  bool flush_armed_ = false;
  std::uint64_t renders_ = 0;
};

class AllEventsStream final : public EventQueue {
 public:
  AllEventsStream(const boost::asio::any_io_executor& loop, EventStreamOptions options, AllEventsHub& hub,
                  std::optional<std::string> kind, std::optional<proto::JobState> state);
  ~AllEventsStream() override;

  // Whether this stream's filter passes the event: a comparison, never a render.
  bool wants(const jobs::Job& job, const jobs::JobEvent& event) const;
  void deliver(const SharedFrame& frame) { push(frame, false, false); }
  using EventQueue::flush;

 private:
  AllEventsHub& hub_;
  std::optional<std::string> kind_;
  std::optional<proto::JobState> state_;
};

}  // namespace jobd::api
