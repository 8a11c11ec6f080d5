// SharedFrame: one rendered SSE frame, queued for every subscriber of one job's events it goes
// to. An event is rendered once however many streams show it (api/event_stream.hpp); each queue
// holds a reference. (GET /v1/events shares whole batches across threads instead:
// api/frame_batch.hpp.) Loop thread only: the count is a plain integer, because an atomic one (a
// shared_ptr's) would cost two locked instructions per subscriber and event, and a fan-out
// does that 500 times per event.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace jobd::api {

class SharedFrame {
 public:
  SharedFrame() = default;
  explicit SharedFrame(std::string text) : body_(new Body{std::move(text), 1}) {}
  SharedFrame(const SharedFrame& other) noexcept : body_(other.body_) {
    if (body_) ++body_->refs;
  }
  SharedFrame(SharedFrame&& other) noexcept : body_(std::exchange(other.body_, nullptr)) {}
  SharedFrame& operator=(SharedFrame other) noexcept {
    std::swap(body_, other.body_);
    return *this;
  }
  ~SharedFrame() {
    if (body_ && --body_->refs == 0) delete body_;
  }

  explicit operator bool() const noexcept { return body_ != nullptr; }
  std::string_view text() const noexcept {
    return body_ ? std::string_view(body_->text) : std::string_view();
  }

 private:
  struct Body {
    std::string text;
    std::size_t refs;
  };
  Body* body_ = nullptr;
};

}  // namespace jobd::api
