// UniqueFd: sole ownership of one plain file descriptor (a pipe end, a pidfd) until it is
// released to a new owner or closed. For descriptors nobody watches yet: once the loop waits on
// one, it belongs to a WatchedFd (exec/posix/watched.hpp), which deregisters before it closes.
// Never duplicates, never blocks.
#pragma once

#include <unistd.h>

#include <utility>

namespace jobd::exec::posix {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Hands the descriptor to a new owner; this one owns nothing after.
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

}  // namespace jobd::exec::posix
