#include "api/shared_event_stream.hpp"

#include "api/fanout_queue.hpp"

namespace jobd::api {

SharedJobEventStream::SharedJobEventStream(const boost::asio::any_io_executor& loop,
                                           EventStreamOptions options, cluster::Cluster& cluster,
                                           std::string id, std::uint64_t after,
                                           const cluster::JobEventPage& first)
    : EventQueue(loop, options), cluster_(cluster), id_(std::move(id)), last_(after) {
  take(first);
  if (done_) return;
  follow_ = cluster_.follow(id_, last_, [this](const cluster::JobEventPage& page) { take(page); });
}

SharedJobEventStream::~SharedJobEventStream() { stop_following(); }

void SharedJobEventStream::stop_following() {
  if (follow_) cluster_.unfollow(id_, *follow_);
  follow_.reset();
}

void SharedJobEventStream::take(const cluster::JobEventPage& page) {
  if (done_) return;
  if (!page.found) {
    // Gone past its retention while followed: nothing more will come.
    done_ = true;
    stop_following();
    end();
    return;
  }
  for (const auto& event : page.events) {
    if (event.id <= last_) continue;  // sent already (the group read from an earlier id)
    // Older events trimmed from the capped stream are reported, not skipped silently.
    if (event.id > last_ + 1) push(dropped_frame(event.id - last_ - 1), true);
    const bool final = event.type == jobs::EventType::state && proto::is_final(event.state);
    push(render_sse(page.job, event, true), final);
    last_ = event.id;
    if (final) break;
  }
  const bool final_sent = !page.events.empty() && page.events.back().id <= last_ &&
                          page.events.back().type == jobs::EventType::state &&
                          proto::is_final(page.events.back().state);
  if (page.ended || final_sent) {
    done_ = true;
    stop_following();
    end();
  }
}

}  // namespace jobd::api
