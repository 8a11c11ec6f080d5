// A stand-in HTTP server on 127.0.0.1 for the jobctl tests: it keeps the request heads it
// receives and answers each with what a test's responder returns (by default 200
// {"status":"ok"}). It lets a test see exactly what jobctl sends (headers, tokens, base paths)
// and feed jobctl byte streams jobd would never send (an event stream that breaks off).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace jobd::testing {

class RecordingServer {
 public:
  struct Answer {
    std::string bytes;
    bool close = false;  // close the connection after sending
  };
  // Gets the request head and the number of the connection (0, 1, ...) it came on.
  using Responder = std::function<Answer(const std::string& head, int connection)>;

  explicit RecordingServer(Responder respond = ok);
  ~RecordingServer();
  RecordingServer(const RecordingServer&) = delete;
  RecordingServer& operator=(const RecordingServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string heads() {
    std::lock_guard lock(mutex_);
    return heads_;
  }
  static Answer ok(const std::string&, int) {
    return {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}"};
  }

 private:
  void serve();

  Responder respond_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::string heads_;
};

}  // namespace jobd::testing
