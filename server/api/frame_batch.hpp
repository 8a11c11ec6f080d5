// FrameBatch: the GET /v1/events frames the loop rendered during one flush interval, handed to
// the fan-out thread (api/event_fanout.hpp) in one post. Immutable once posted, and shared
// (shared_ptr<const FrameBatch>): every stream writes straight out of `text` with gather writes
// and holds the batch until those writes complete, so a frame is rendered once and copied by
// nobody. The frames are back to back in `text`, so a stream that takes a run of them writes
// it as one buffer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jobd/proto/job.hpp"

namespace jobd::api {

struct FrameBatch {
  struct Frame {
    std::uint32_t offset = 0;  // into text
    std::uint32_t size = 0;
    std::uint32_t kind_offset = 0;  // into kinds
    std::uint32_t kind_size = 0;
    proto::JobState state = proto::JobState::queued;  // what ?state= compares
  };

  std::uint64_t seq = 0;  // batches are numbered from 0 in the order they are posted
  std::string text;       // the frames, back to back
  std::string kinds;      // each frame's kind name (what ?kind= compares)
  std::vector<Frame> frames;

  std::string_view frame_text(std::size_t i) const {
    return std::string_view(text).substr(frames[i].offset, frames[i].size);
  }
  std::string_view kind(std::size_t i) const {
    return std::string_view(kinds).substr(frames[i].kind_offset, frames[i].kind_size);
  }
  // Appends a rendered frame.
  void add(std::string_view frame, std::string_view kind_name, proto::JobState state) {
    frames.push_back({static_cast<std::uint32_t>(text.size()), static_cast<std::uint32_t>(frame.size()),
                      static_cast<std::uint32_t>(kinds.size()), static_cast<std::uint32_t>(kind_name.size()),
                      state});
    text.append(frame);
    kinds.append(kind_name);
  }
};

// Where a stream starts: the first frame after the events it was opened after.
struct FramePosition {
  std::uint64_t seq = 0;  // the batch being filled when the stream opened
  std::size_t frame = 0;  // its frames already there
};

}  // namespace jobd::api
