#include "http/idle.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "http/session.hpp"

namespace jobd::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Records kept for the next parks: no allocation per park on a busy keep-alive connection.
constexpr std::size_t kSpareRecords = 64;
// The sweep closes every connection whose deadline falls within this of the earliest one: one
// wake-up for a burst of connections that went idle together.
constexpr auto kSweepSlack = std::chrono::milliseconds(10);

}  // namespace

IdleConnections::IdleConnections(const asio::any_io_executor& executor, ServerState& state,
                                 std::chrono::milliseconds timeout)
    : executor_(executor),
      state_(state),
      timeout_(timeout),
      // (Woken kSweepSlack late: the earliest connection is never closed before its timeout.)
      parked_(executor, {.deadline = [](const Parked& record) { return record.deadline; },
                         .expire = [this](Parked& record) { expire(record); },
                         .window = kSweepSlack,
                         .late = kSweepSlack}) {}

IdleConnections::~IdleConnections() {
  // The pending waits' handlers own the records: they must not reach this object any more.
  auto& parked = parked_.entries();
  while (!parked.empty()) {
    Parked& record = parked.front();
    parked.pop_front();
    record.owner = nullptr;
    boost::system::error_code ignored;
    record.socket.close(ignored);
  }
}

void IdleConnections::park(tcp::socket socket, bool checked, std::chrono::steady_clock::time_point since) {
  if (!checked) {
    char byte = 0;
    const auto peeked = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    // Bytes, the end, or an error: the session reads it and finds out.
    if (!(peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
      spawn_session(state_, std::move(socket));
      return;
    }
  }
  std::unique_ptr<Parked> record;
  if (spares_.empty()) {
    record = std::make_unique<Parked>(executor_);
  } else {
    record = std::move(spares_.back());
    spares_.pop_back();
  }
  record->socket = std::move(socket);
  // (A session lingers a moment before it parks its connection: the list's order may be off by
  // that much, and a deadline swept that much late.)
  record->deadline = since + timeout_;
  record->owner = this;
  record->expired = false;
  parked_.push_back(*record);
  ++count_;
  wait(std::move(record));
}

void IdleConnections::wait(std::unique_ptr<Parked> record) {
  Parked& parked = *record;
  parked.socket.async_wait(tcp::socket::wait_read,
                           [record = std::move(record)](boost::system::error_code error) mutable {
                             IdleConnections* owner = record->owner;
                             if (owner == nullptr) return;  // the server is gone; the record is freed here
                             owner->ready(std::move(record), error);
                           });
}

void IdleConnections::ready(std::unique_ptr<Parked> record, boost::system::error_code error) {
  if (record->expired) {  // the sweep closed it and took it off the list
    recycle(std::move(record));
    return;
  }
  record->hook.unlink();
  --count_;
  if (error && error != asio::error::operation_aborted) {
    // Not a wait that can fail for a live socket: close it as a session would.
    boost::system::error_code ignored;
    record->socket.close(ignored);
    recycle(std::move(record));
    return;
  }
  // Readable (a request, the end, a reset), or woken by wake_all: the session sorts it out.
  spawn_session(state_, std::move(record->socket));
  recycle(std::move(record));
}

void IdleConnections::wake_all() {
  for (Parked& record : parked_.entries()) {
    boost::system::error_code ignored;
    record.socket.cancel(ignored);
  }
}

void IdleConnections::expire(Parked& record) {
  --count_;
  // As a session ends an idle connection: our FIN, then the close (which ends the wait; its
  // handler frees the record).
  record.expired = true;
  boost::system::error_code ignored;
  record.socket.shutdown(tcp::socket::shutdown_send, ignored);
  record.socket.close(ignored);
}

void IdleConnections::recycle(std::unique_ptr<Parked> record) {
  if (spares_.size() < kSpareRecords) spares_.push_back(std::move(record));
}

}  // namespace jobd::http
