// HiredisLink: hiredis's async API driven by the loop through Asio, one context at a time.
//
// hiredis does the protocol (it writes the queued commands, parses replies, matches them to
// callbacks in order) and asks for readiness through five hooks; this class answers them with
// async_wait on a posix::stream_descriptor wrapping hiredis's socket:
//   addRead/addWrite  arm one async_wait for that direction (at most one in flight each);
//                     the completion calls redisAsyncHandleRead/Write, which re-arms as needed.
//   delRead/delWrite  clear the wish; a wait already in flight completes and does nothing.
//   cleanup           hiredis is about to close its socket: release() it from Asio first (which
//                     cancels our waits and deregisters it from epoll, without closing it).
// The connect is non-blocking: redisAsyncSetConnectCallback arms the first write wait, and its
// completion (the socket turned writable: connected or failed) is the only time hiredis checks
// SO_ERROR. Calling redisAsyncHandleWrite before that readiness would make hiredis 0.14 take a
// connect still in progress (SO_ERROR 0) for an established one.
//
// Stale readiness is filtered in one place: each context gets a new generation number, every
// wait carries the number it was armed with, and a completion from an older generation (its
// context freed meanwhile, perhaps inside the previous HandleRead) returns at once.
//
// Must never: touch a freed context, let Asio close hiredis's descriptor, call hiredis from inside
// one of hiredis's callbacks (close() is for timers and owners, never for reply callbacks), or
// block (every socket is non-blocking; names are resolved before adopt()).
#pragma once

#include <hiredis/async.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace jobd::store::redis {

class HiredisLink : public std::enable_shared_from_this<HiredisLink> {
 public:
  class Listener {
   public:
    virtual void on_link_connected() = 0;
    // The context is gone: hiredis has run every pending callback with a null reply. `reason`
    // is hiredis's error text, or what close() was given.
    virtual void on_link_closed(std::string_view reason) = 0;

   protected:
    ~Listener() = default;
  };

  // Always owned by a shared_ptr: pending waits keep the link alive.
  static std::shared_ptr<HiredisLink> create(const boost::asio::any_io_executor& loop, Listener& listener);
  ~HiredisLink();
  HiredisLink(const HiredisLink&) = delete;
  HiredisLink& operator=(const HiredisLink&) = delete;

  // Takes `context` (fresh from redisAsyncConnect*, err == 0) and starts watching its connect.
  void adopt(redisAsyncContext* context);
  bool open() const { return context_ != nullptr; }
  bool connected() const;
  // Queues one RESP-encoded command; false when there is no context or hiredis refused it.
  bool send(std::string_view encoded, redisCallbackFn* callback, void* privdata);
  // Frees the context now (pending callbacks run with null replies, then on_link_closed(reason)).
  void close(std::string_view reason);
  // The listener hears nothing more (its owner is going away).
  void detach() { listener_ = nullptr; }

 private:
  HiredisLink(const boost::asio::any_io_executor& loop, Listener& listener);
  static void add_read(void* self);
  static void del_read(void* self);
  static void add_write(void* self);
  static void del_write(void* self);
  static void cleanup(void* self);
  static void on_connect(const redisAsyncContext* context, int status);
  void arm_read();
  void arm_write();
  void on_cleanup();

  boost::asio::posix::stream_descriptor socket_;
  Listener* listener_;
  redisAsyncContext* context_ = nullptr;
  std::uint64_t generation_ = 0;  // bumped when a context is adopted and when it is freed
  bool want_read_ = false;
  bool want_write_ = false;
  bool read_armed_ = false;  // an async_wait(wait_read) is in flight for this generation
  bool write_armed_ = false;
  std::string close_reason_;
};

}  // namespace jobd::store::redis
