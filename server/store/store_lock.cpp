#include "store/store_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>

namespace jobd::store {
namespace {

// Lock files this process holds, by (device, inode): the kernel lets a process re-lock its own.
std::mutex held_mutex;
std::set<std::pair<unsigned long long, unsigned long long>> held_files;

std::string failure(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

}  // namespace

StoreLock::StoreLock(StoreLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), device_(other.device_), inode_(other.inode_) {}

StoreLock& StoreLock::operator=(StoreLock&& other) noexcept {
  std::swap(fd_, other.fd_);
  std::swap(device_, other.device_);
  std::swap(inode_, other.inode_);
  return *this;
}

std::string StoreLock::acquire(const std::string& store_path) {
  release();
  const std::string path = store_path + ".lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return failure("cannot open", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string why = failure("cannot stat", path);
    ::close(fd);
    return why;
  }
  const std::pair<unsigned long long, unsigned long long> key{st.st_dev, st.st_ino};
  {
    std::lock_guard lock(held_mutex);
    if (held_files.contains(key)) {
      ::close(fd);
      return store_path + " is already open in this jobd (pid " + std::to_string(::getpid()) + ")";
    }
    struct flock want {};
    want.l_type = F_WRLCK;
    want.l_whence = SEEK_SET;
    if (::fcntl(fd, F_SETLK, &want) != 0) {
      const int error = errno;
      struct flock holder = want;
      std::string why;
      if ((error == EACCES || error == EAGAIN) && ::fcntl(fd, F_GETLK, &holder) == 0 &&
          holder.l_type != F_UNLCK)
        why = store_path + " is in use by another jobd (pid " + std::to_string(holder.l_pid) + ")";
      else
        why = "cannot lock " + path + ": " + std::strerror(error);
      ::close(fd);
      return why;
    }
    held_files.insert(key);
  }
  fd_ = fd;
  device_ = key.first;
  inode_ = key.second;
  // For people and scripts, best effort (a full disk must not stop start-up here): the kernel's
  // answer above is what a second jobd trusts.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // ignored, see above
  }
  return {};
}

void StoreLock::release() {
  if (fd_ < 0) return;
  std::lock_guard lock(held_mutex);
  held_files.erase({device_, inode_});
  ::close(fd_);  // drops the POSIX lock
  fd_ = -1;
}

}  // namespace jobd::store
