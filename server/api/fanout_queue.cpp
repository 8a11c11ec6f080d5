#include "api/fanout_queue.hpp"

namespace jobd::api {

std::string dropped_frame(std::uint64_t count) {
  return "event: dropped\ndata: {\"count\":" + std::to_string(count) + "}\n\n";
}

void SubscriberQueue::add(const std::shared_ptr<const FrameBatch>& batch) {
  if (batch->seq < from_.seq) return;
  const std::size_t first = batch->seq == from_.seq ? from_.frame : 0;
  const std::string_view text = batch->text;
  bool extend = false;  // the last chunk ends just before this frame
  for (std::size_t i = first; i < batch->frames.size(); ++i) {
    const FrameBatch::Frame& frame = batch->frames[i];
    if (!filter_.passes(batch->kind(i), frame.state)) {
      extend = false;
      continue;
    }
    if (queued_ >= buffer_) {
      ++dropped_;
      ++dropped_total_;
      extend = false;
      continue;
    }
    ++queued_;
    if (extend) {
      Chunk& last = chunks_.back();
      last.bytes = std::string_view(last.bytes.data(), last.bytes.size() + frame.size);
      ++last.frames;
    } else {
      chunks_.push_back({batch, text.substr(frame.offset, frame.size), 1});
      extend = true;
    }
  }
}

std::span<const boost::asio::const_buffer> SubscriberQueue::take() {
  write_.clear();
  if (dropped_ > 0) {
    dropped_text_ = dropped_frame(dropped_);
    dropped_ = 0;
    write_.push_back(boost::asio::buffer(dropped_text_));
  }
  taken_ = 0;
  while (taken_ < chunks_.size() && write_.size() < kMaxBuffers) {
    write_.push_back(boost::asio::buffer(chunks_[taken_].bytes.data(), chunks_[taken_].bytes.size()));
    ++taken_;
  }
  return write_;
}

void SubscriberQueue::written() {
  for (; taken_ > 0; --taken_) {
    queued_ -= chunks_.front().frames;
    chunks_.pop_front();
  }
  write_.clear();
  dropped_text_.clear();
}

}  // namespace jobd::api
