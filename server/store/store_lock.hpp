// StoreLock: one jobd at a time per store file.
//
// Holds a POSIX write lock (fcntl F_SETLK) on PATH.lock for as long as it lives, and writes its
// pid into that file for people to read. A second jobd is refused with the holder's pid, which
// the kernel reports (F_GETLK), so a stale pid left in the file can never mislead. POSIX locks
// rather than flock or OFD locks because they belong to the process, not to the open file:
// children forked by jobd (the fork server, its workers) never inherit them, so a worker
// outliving a killed jobd cannot keep a restarted jobd out. Since the kernel does not stop the
// same process from locking twice, a process-wide set refuses a second store on one file here.
// The lock file is never deleted: deleting it would let two processes lock two different files.
#pragma once

#include <string>

namespace jobd::store {

class StoreLock {
 public:
  StoreLock() = default;
  ~StoreLock() { release(); }
  StoreLock(StoreLock&& other) noexcept;
  StoreLock& operator=(StoreLock&& other) noexcept;

  // Locks `store_path` + ".lock". Empty: held; else one line, e.g.
  // "jobd.db is in use by another jobd (pid 4242)".
  std::string acquire(const std::string& store_path);
  void release();
  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
  unsigned long long device_ = 0;
  unsigned long long inode_ = 0;
};

}  // namespace jobd::store
