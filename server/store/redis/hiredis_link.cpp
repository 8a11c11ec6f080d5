#include "store/redis/hiredis_link.hpp"

#include <boost/asio/error.hpp>

namespace jobd::store::redis {

namespace asio = boost::asio;
using Socket = asio::posix::stream_descriptor;

std::shared_ptr<HiredisLink> HiredisLink::create(const asio::any_io_executor& loop, Listener& listener) {
  return std::shared_ptr<HiredisLink>(new HiredisLink(loop, listener));
}

HiredisLink::HiredisLink(const asio::any_io_executor& loop, Listener& listener)
    : socket_(loop), listener_(&listener) {}

HiredisLink::~HiredisLink() {
  listener_ = nullptr;
  close("the connection was destroyed");
}

void HiredisLink::adopt(redisAsyncContext* context) {
  close("replaced by a new connection");
  context_ = context;
  ++generation_;
  want_read_ = want_write_ = read_armed_ = write_armed_ = false;
  context->data = this;
  context->ev.data = this;
  context->ev.addRead = &HiredisLink::add_read;
  context->ev.delRead = &HiredisLink::del_read;
  context->ev.addWrite = &HiredisLink::add_write;
  context->ev.delWrite = &HiredisLink::del_write;
  context->ev.cleanup = &HiredisLink::cleanup;
  boost::system::error_code ec;
  socket_.assign(context->c.fd, ec);
  if (ec) {
    // cleanup() must not release a descriptor Asio does not hold: forget the hooks' wishes.
    close_reason_ = "cannot watch the redis socket: " + ec.message();
    context->ev.cleanup = nullptr;
    redisAsyncFree(context);
    context_ = nullptr;
    ++generation_;
    if (listener_ != nullptr) listener_->on_link_closed(close_reason_);
    close_reason_.clear();
    return;
  }
  // Arms the first write wait: the socket turning writable ends the non-blocking connect.
  redisAsyncSetConnectCallback(context, &HiredisLink::on_connect);
}

bool HiredisLink::connected() const {
  return context_ != nullptr && (context_->c.flags & REDIS_CONNECTED) != 0;
}

bool HiredisLink::send(std::string_view encoded, redisCallbackFn* callback, void* privdata) {
  if (context_ == nullptr) return false;
  return redisAsyncFormattedCommand(context_, callback, privdata, encoded.data(), encoded.size()) == REDIS_OK;
}

void HiredisLink::close(std::string_view reason) {
  if (context_ == nullptr) return;
  close_reason_ = std::string(reason);
  redisAsyncFree(context_);  // runs the pending callbacks, then cleanup() -> on_cleanup()
  close_reason_.clear();
}

void HiredisLink::add_read(void* self) {
  auto* link = static_cast<HiredisLink*>(self);
  link->want_read_ = true;
  link->arm_read();
}

void HiredisLink::del_read(void* self) { static_cast<HiredisLink*>(self)->want_read_ = false; }

void HiredisLink::add_write(void* self) {
  auto* link = static_cast<HiredisLink*>(self);
  link->want_write_ = true;
  link->arm_write();
}

void HiredisLink::del_write(void* self) { static_cast<HiredisLink*>(self)->want_write_ = false; }

void HiredisLink::cleanup(void* self) { static_cast<HiredisLink*>(self)->on_cleanup(); }

void HiredisLink::on_connect(const redisAsyncContext* context, int status) {
  auto* link = static_cast<HiredisLink*>(context->data);
  // A failed connect (status REDIS_ERR) is followed by cleanup(), which reports the reason.
  if (status == REDIS_OK && link->listener_ != nullptr) link->listener_->on_link_connected();
}

void HiredisLink::arm_read() {
  if (read_armed_ || context_ == nullptr) return;
  read_armed_ = true;
  socket_.async_wait(Socket::wait_read, [self = shared_from_this(),
                                         generation = generation_](const boost::system::error_code& ec) {
    if (generation != self->generation_) return;  // armed for a context that is gone
    self->read_armed_ = false;
    if (ec == asio::error::operation_aborted || !self->want_read_) return;
    // May free the context (EOF, a protocol error): cleanup() then bumps the generation.
    redisAsyncHandleRead(self->context_);
  });
}

void HiredisLink::arm_write() {
  if (write_armed_ || context_ == nullptr) return;
  write_armed_ = true;
  socket_.async_wait(Socket::wait_write, [self = shared_from_this(),
                                          generation = generation_](const boost::system::error_code& ec) {
    if (generation != self->generation_) return;
    self->write_armed_ = false;
    if (ec == asio::error::operation_aborted || !self->want_write_) return;
    redisAsyncHandleWrite(self->context_);  // the first one completes the connect
  });
}

void HiredisLink::on_cleanup() {
  // hiredis closes the descriptor right after this hook: take it out of epoll (and cancel our
  // waits) without closing it, so Asio never closes a number that may already be reused.
  std::string reason = close_reason_;
  if (reason.empty() && context_ != nullptr && context_->c.err != 0) reason = context_->c.errstr;
  if (reason.empty()) reason = "the connection closed";
  socket_.release();
  context_ = nullptr;
  ++generation_;
  want_read_ = want_write_ = read_armed_ = write_armed_ = false;
  if (listener_ != nullptr) listener_->on_link_closed(reason);
}

}  // namespace jobd::store::redis
