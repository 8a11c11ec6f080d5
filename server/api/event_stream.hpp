// Server-Sent Events over the job table: one job's events (GET /v1/jobs/{id}/events) or every
// job's state changes (GET /v1/events).
//
// A subscriber never slows a job or other subscribers: events go into its own bounded queue;
// beyond the bound they are counted and reported as one `dropped` event (a job's final state
// is always delivered). Loop thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <optional>
#include <string>

#include "http/body_stream.hpp"
#include "jobs/job_table.hpp"

namespace jobd::api {

struct EventStreamOptions {
  std::size_t buffer = 1024;  // events queued for one subscriber before it drops
  std::chrono::milliseconds heartbeat{15'000};
  std::size_t* open_streams = nullptr;  // counts live streams, for metrics
};

// One SSE frame for a job event (a final state event carries the whole job record).
std::string render_sse(const jobs::Job& job, const jobs::JobEvent& event, bool with_id);

class EventQueue : public http::BodyStream {
 public:
  EventQueue(boost::asio::any_io_executor loop, EventStreamOptions options);
  ~EventQueue() override;
  boost::asio::awaitable<std::optional<std::string>> next() override;
  void close() override;

 protected:
  void push(std::string frame, bool must_deliver);
  void end();

 private:
  boost::asio::steady_timer wake_;
  EventStreamOptions options_;
  std::deque<std::string> pending_;
  std::uint64_t dropped_ = 0;
  bool ended_ = false;
};

class JobEventStream final : public EventQueue {
 public:
  // Replays the job's retained events after `after_id` (Last-Event-ID), then follows it live.
  JobEventStream(boost::asio::any_io_executor loop, EventStreamOptions options, jobs::JobTable& table,
                 const jobs::Job& job, std::uint64_t after_id);
  ~JobEventStream() override;

 private:
  jobs::JobTable& table_;
  jobs::JobSeq seq_;
  std::optional<jobs::WatchId> watch_;
};

class AllEventsStream final : public EventQueue {
 public:
  AllEventsStream(boost::asio::any_io_executor loop, EventStreamOptions options, jobs::JobTable& table,
                  std::optional<std::string> kind, std::optional<proto::JobState> state);
  ~AllEventsStream() override;

 private:
  jobs::JobTable& table_;
  jobs::WatchId watch_;
};

}  // namespace jobd::api
