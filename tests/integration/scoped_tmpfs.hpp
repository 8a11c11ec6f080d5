// A small tmpfs mounted for one test (a disk that fills up), unmounted when it goes. Needs root
// (CAP_SYS_ADMIN): error() says why the mount failed, and the test skips naming it.
#pragma once

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace jobd::testing {

class ScopedTmpfs {
 public:
  explicit ScopedTmpfs(const std::filesystem::path& at, const char* size) : at_(at) {
    std::filesystem::create_directory(at_);
    const std::string options = std::string("size=") + size;
    if (::mount("tmpfs", at_.c_str(), "tmpfs", 0, options.c_str()) != 0) error_ = std::strerror(errno);
  }
  ~ScopedTmpfs() {
    if (error_.empty()) ::umount2(at_.c_str(), MNT_DETACH);
  }
  ScopedTmpfs(const ScopedTmpfs&) = delete;
  ScopedTmpfs& operator=(const ScopedTmpfs&) = delete;
  const std::string& error() const { return error_; }

 private:
  std::filesystem::path at_;
  std::string error_;
};

}  // namespace jobd::testing
