#include "recording_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <utility>

namespace jobd::testing {

RecordingServer::RecordingServer(Responder respond) : respond_(std::move(respond)) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd_, 8) != 0) {
    if (fd_ >= 0) ::close(fd_);
    throw std::runtime_error("RecordingServer: bind/listen");
  }
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

RecordingServer::~RecordingServer() {
  stop_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  thread_.join();
  ::close(fd_);
}

void RecordingServer::serve() {
  for (int connection = 0; !stop_;) {
    pollfd listening{fd_, POLLIN, 0};
    if (::poll(&listening, 1, 100) <= 0) continue;
    const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    std::string pending;
    char buffer[4096];
    bool open = true;
    while (open && !stop_) {
      pollfd readable{client, POLLIN, 0};
      if (::poll(&readable, 1, 2000) <= 0) break;
      const auto n = ::recv(client, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      pending.append(buffer, static_cast<std::size_t>(n));
      for (auto end = pending.find("\r\n\r\n"); open && end != std::string::npos;
           end = pending.find("\r\n\r\n")) {
        const std::string head = pending.substr(0, end + 4);
        pending.erase(0, end + 4);
        {
          std::lock_guard lock(mutex_);
          heads_ += head;
        }
        const Answer answer = respond_(head, connection);
        ::send(client, answer.bytes.data(), answer.bytes.size(), MSG_NOSIGNAL);
        open = !answer.close;
      }
    }
    ::close(client);
    ++connection;
  }
}

}  // namespace jobd::testing
