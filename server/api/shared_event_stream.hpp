// GET /v1/jobs/{id}/events when replicas share their jobs on Redis: the job's event stream in
// Redis (cluster/job_events.cpp), whichever replica runs or ran the job. The same frames and
// ids as JobEventStream (api/event_stream.hpp): the ids are the stream's entry numbers, the
// same on every replica, so a client resumes on any of them with Last-Event-ID. Loop thread only.
#pragma once

#include <optional>
#include <string>

#include "api/event_stream.hpp"
#include "cluster/cluster.hpp"

namespace jobd::api {

class SharedJobEventStream final : public EventQueue {
 public:
  // `first`: the page read when the stream was asked for (events after `after`).
  SharedJobEventStream(const boost::asio::any_io_executor& loop, EventStreamOptions options,
                       cluster::Cluster& cluster, std::string id, std::uint64_t after,
                       const cluster::JobEventPage& first);
  ~SharedJobEventStream() override;

 private:
  // Queues the page's events this stream has not sent; ends after the final one.
  void take(const cluster::JobEventPage& page);
  void stop_following();

  cluster::Cluster& cluster_;
  std::string id_;
  std::uint64_t last_ = 0;  // the last event id queued
  std::optional<cluster::FollowId> follow_;
  bool done_ = false;
};

}  // namespace jobd::api
