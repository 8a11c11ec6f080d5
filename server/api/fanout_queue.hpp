// One GET /v1/events subscriber's queue on the fan-out thread (api/event_fanout.hpp): which
// frames of each batch its filter passes, a bound on what waits unwritten (beyond it, events
// are counted and reported as one `dropped` event, first in the next write), and the next write
// as buffers pointing into the batches, never a copy. No socket and no thread of its own: the
// fan-out thread alone uses it, and the tests drive it directly.
#pragma once

#include <boost/asio/buffer.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "api/frame_batch.hpp"

namespace jobd::api {

// ?kind= and ?state= of GET /v1/events.
struct EventFilter {
  std::optional<std::string> kind;
  std::optional<proto::JobState> state;
  bool passes(std::string_view frame_kind, proto::JobState frame_state) const {
    return (!kind || *kind == frame_kind) && (!state || *state == frame_state);
  }
};

std::string dropped_frame(std::uint64_t count);

class SubscriberQueue {
 public:
  // Buffers in one write at most (Asio sends at most 64 per system call).
  static constexpr std::size_t kMaxBuffers = 64;

  SubscriberQueue(EventFilter filter, std::size_t buffer, FramePosition from)
      : filter_(std::move(filter)), buffer_(buffer), from_(from) {}

  // Queues the frames of `batch` that the filter passes (none from before `from`); past the
  // bound, counts them as dropped.
  void add(const std::shared_ptr<const FrameBatch>& batch);
  // Something to write: frames, or a count of dropped ones.
  bool ready() const { return chunks_.size() > taken_ || dropped_ > 0; }
  // The next write (call when ready() and no write is under way): views into the batches and
  // this queue, valid until written().
  std::span<const boost::asio::const_buffer> take();
  // The write of take() completed: what it covered leaves the queue.
  void written();

  // Frames queued and not written yet (those of a write under way included).
  std::size_t queued() const { return queued_; }
  std::uint64_t dropped_total() const { return dropped_total_; }

 private:
  struct Chunk {
    std::shared_ptr<const FrameBatch> batch;  // keeps `bytes` alive
    std::string_view bytes;                   // a run of frames back to back in the batch
    std::size_t frames = 0;
  };

  EventFilter filter_;
  std::size_t buffer_;
  FramePosition from_;
  std::deque<Chunk> chunks_;
  std::size_t taken_ = 0;  // chunks in the write under way
  std::size_t queued_ = 0;
  std::uint64_t dropped_ = 0;  // since the last report
  std::uint64_t dropped_total_ = 0;
  std::string dropped_text_;  // the report in the write under way
  std::vector<boost::asio::const_buffer> write_;
};

}  // namespace jobd::api
