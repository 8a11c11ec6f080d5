// Server-Sent Events over the job table: one job's events (GET /v1/jobs/{id}/events) or every
// job's state changes (GET /v1/events).
//
// A subscriber never slows a job or other subscribers: events go into its own bounded queue;
// beyond the bound they are counted and reported as one `dropped` event (on a job's stream, its
// final state is always delivered). A frame is rendered once per event, however many
// subscribers queue it (SharedFrame; FrameBatch for GET /v1/events, whose streams are written by
// the fan-out thread, api/event_fanout.hpp). Loop thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/event_fanout.hpp"
#include "api/shared_frame.hpp"
#include "http/body_stream.hpp"
#include "jobs/job_table.hpp"

namespace jobd::api {

struct EventStreamOptions {
  std::size_t buffer = 1024;  // events queued for one subscriber before it drops
  std::chrono::milliseconds heartbeat{15'000};
  std::size_t* open_streams = nullptr;  // counts live streams, for metrics
  // A GET /v1/events reader that stops reading is cut after this (--idle-timeout).
  std::chrono::milliseconds write_timeout{60'000};
};

// One SSE frame for a job event (a state event carries the whole job record).
std::string render_sse(const jobs::Job& job, const jobs::JobEvent& event, bool with_id);
// The same, appended to `frame`.
void append_sse(std::string& frame, const jobs::Job& job, const jobs::JobEvent& event, bool with_id);

class EventQueue : public http::BodyStream {
 public:
  EventQueue(const boost::asio::any_io_executor& loop, EventStreamOptions options);
  ~EventQueue() override;
  boost::asio::awaitable<std::optional<std::string>> next() override;
  void close() override;

 protected:
  // Queues a frame and wakes the reader.
  void push(SharedFrame frame, bool must_deliver);
  void push(std::string frame, bool must_deliver) { push(SharedFrame(std::move(frame)), must_deliver); }
  void end();

 private:
  void wake();

  boost::asio::steady_timer wake_;
  EventStreamOptions options_;
  std::deque<SharedFrame> pending_;
  std::size_t pending_bytes_ = 0;
  std::uint64_t dropped_ = 0;
  bool ended_ = false;
  // next() waits on wake_: the first push cancels the wait; later ones need not (a cancel takes
  // the reactor's lock).
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

// The one watcher of every job's state changes behind all GET /v1/events streams. The loop does
// no work per stream: each event is rendered once (while any stream is open) into the current
// FrameBatch, which goes to the fan-out thread (api/event_fanout.hpp) 20 ms after its first
// event, or sooner once it holds half a stream's buffer; that thread filters, queues and writes
// for every stream. Watches the table only while a stream is open, so JobControl::live() tells
// executors whether starts have a live reader.
class AllEventsHub {
 public:
  AllEventsHub(const boost::asio::any_io_executor& loop, jobs::JobTable& table, EventFanout& fanout,
               std::size_t buffer);
  ~AllEventsHub();
  AllEventsHub(const AllEventsHub&) = delete;
  AllEventsHub& operator=(const AllEventsHub&) = delete;

  // A stream subscribes: it gets the events from the returned position on, once opened (its
  // socket handed to the fan-out); until then the fan-out keeps the batches from there on.
  FramePosition subscribe();
  void opened(const FramePosition& from);
  // The stream is gone; `opened` says whether opened() was called for it.
  void unsubscribe(const FramePosition& from, bool opened);
  EventFanout& fanout() { return fanout_; }
  // Replicas on Redis: the events come from every replica (feed), not from the local table.
  void external() { external_ = true; }
  void feed(const jobs::Job& job, const jobs::JobEvent& event) { add(job, event); }
  std::size_t streams() const { return streams_; }
  // Frames rendered so far: one per event while a stream is open.
  std::uint64_t renders() const { return renders_; }
  // Posts the batch being filled now (the flush timer does, 20 ms after its first event).
  void flush();

 private:
  void add(const jobs::Job& job, const jobs::JobEvent& event);

  jobs::JobTable& table_;
  EventFanout& fanout_;
  std::optional<jobs::WatchId> watch_;
  std::size_t streams_ = 0;
  bool external_ = false;
  std::multiset<std::uint64_t> unopened_;  // the batch seqs subscribed streams not yet opened start at
  std::size_t batch_frames_;               // a batch goes at this many frames, without waiting for the timer
  std::shared_ptr<FrameBatch> batch_;
  boost::asio::steady_timer flush_;
  bool flush_armed_ = false;
  std::uint64_t renders_ = 0;
};

// A GET /v1/events stream. It serves its socket from the fan-out thread (serves_socket); on the
// loop it is only a subscription, the count of open streams, and the wait for the end.
class AllEventsStream final : public http::BodyStream {
 public:
  AllEventsStream(boost::asio::any_io_executor loop, EventStreamOptions options, AllEventsHub& hub,
                  EventFilter filter);
  ~AllEventsStream() override;

  // Never asked: the session hands the socket over instead (a HEAD asks for neither).
  boost::asio::awaitable<std::optional<std::string>> next() override;
  void close() override;
  bool serves_socket() const override { return true; }
  boost::asio::awaitable<int> serve(int fd) override;

 private:
  // What the fan-out thread's end of the stream reports back, on the loop.
  struct Link {
    explicit Link(const boost::asio::any_io_executor& loop)
        : done(loop, boost::asio::steady_timer::time_point::max()) {}
    boost::asio::steady_timer done;
    int fd = -1;
    bool ended = false;
  };

  boost::asio::any_io_executor loop_;
  EventStreamOptions options_;
  AllEventsHub& hub_;
  EventFilter filter_;
  FramePosition from_;
  std::optional<std::uint64_t> serving_;  // its id at the fan-out, while it serves
  bool closed_ = false;
  bool opened_ = false;  // its socket went to the fan-out (hub_.opened was called)
};

}  // namespace jobd::api
