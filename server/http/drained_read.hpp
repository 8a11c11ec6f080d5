// An idle connection's read without a wasted system call (bench/RESULTS.md, stop 41).
//
// Boost 1.81's reactor tries every read at once (a speculative recvmsg) unless the descriptor's
// previous read came back "exhausted", and its socket read reports that only at end of stream.
// A session that reads again after answering therefore makes a recvmsg that fails with EAGAIN,
// because the client is still reading the answer. A readiness wait (async_wait) avoids the
// recvmsg but re-arms the descriptor with an epoll_ctl, which costs as much. Either way it is
// one system call per request beyond the recv and the send.
//
// async_read_some_drained is async_read_some with one difference. A read that returns fewer
// bytes than the buffer holds means the socket's receive queue was emptied, so it reports
// "exhausted", as nginx marks a connection not ready after a short read. The reactor then
// queues the next read without trying it. The descriptor is registered edge-triggered, so bytes
// that come later wake it. The reactor sets the flag back whenever an event for the descriptor
// comes, queued read or not, so a wake-up that came while no read waited is not lost.
//
// One case ends in a wait instead of at once: a peer's FIN that came in the same event as its
// last bytes. The session's linger then parks the connection with a readiness wait, which polls
// the descriptor again and finds the end of stream (http/idle.cpp).
//
// Built on asio::detail (reactor_op, epoll_reactor), which Boost does not promise to keep. The
// static_assert below stops the build if the reactor is not epoll's; tests/unit/
// drained_read_test.cpp checks the reactor still treats "exhausted" as this relies on.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/memory.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace jobd::http {

namespace drained_detail {

namespace adetail = boost::asio::detail;
using tcp = boost::asio::ip::tcp;

static_assert(std::is_same_v<adetail::reactor, adetail::epoll_reactor>,
              "async_read_some_drained is written for Asio's epoll reactor");

// basic_socket keeps its implementation in a protected member; a pointer to it, named through a
// derived class, reads it from any socket without a cast.
struct SocketAccess : tcp::socket {
  static constexpr auto impl = &SocketAccess::impl_;
};

template <typename Handler, typename IoExecutor>
class ReadOp : public adetail::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(ReadOp);

  ReadOp(adetail::socket_type socket, void* data, std::size_t size, Handler& handler, const IoExecutor& io_ex)
      : adetail::reactor_op(boost::system::error_code(), &ReadOp::do_perform, &ReadOp::do_complete),
        socket_(socket),
        data_(data),
        size_(size),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  static status do_perform(adetail::reactor_op* base) {
    auto* o = static_cast<ReadOp*>(base);
    if (!adetail::socket_ops::non_blocking_recv1(o->socket_, o->data_, o->size_, 0, /*is_stream=*/true,
                                                 o->ec_, o->bytes_transferred_))
      return not_done;  // nothing there (EAGAIN): stays queued until the descriptor's next event
    // A short read emptied the receive queue; a read of 0 bytes is the end of stream.
    return o->bytes_transferred_ < o->size_ ? done_and_exhausted : done;
  }

  // As Asio's reactive_socket_recv_op: free the operation, then call the handler.
  static void do_complete(void* owner, adetail::operation* base, const boost::system::error_code& /*ec*/,
                          std::size_t /*bytes_transferred*/) {
    auto* o = static_cast<ReadOp*>(base);
    ptr p = {boost::asio::detail::addressof(o->handler_), o, o};
    adetail::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    adetail::binder2<Handler, boost::system::error_code, std::size_t> handler(o->handler_, o->ec_,
                                                                              o->bytes_transferred_);
    p.h = boost::asio::detail::addressof(handler.handler_);
    p.reset();
    if (owner) {
      adetail::fenced_block b(adetail::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  adetail::socket_type socket_;
  void* data_;
  std::size_t size_;
  Handler handler_;
  adetail::handler_work<Handler, IoExecutor> work_;
};

// Per-operation cancellation (a coroutine's cancellation slot), as Asio's own reads have it.
class Cancellation {
 public:
  Cancellation(adetail::epoll_reactor* reactor, adetail::epoll_reactor::per_descriptor_data* data,
               adetail::socket_type socket)
      : reactor_(reactor), data_(data), socket_(socket) {}
  void operator()(boost::asio::cancellation_type_t type) {
    using boost::asio::cancellation_type;
    if (!!(type & (cancellation_type::terminal | cancellation_type::partial | cancellation_type::total)))
      reactor_->cancel_ops_by_key(socket_, *data_, adetail::epoll_reactor::read_op, this);
  }

 private:
  adetail::epoll_reactor* reactor_;
  adetail::epoll_reactor::per_descriptor_data* data_;
  adetail::socket_type socket_;
};

struct Initiate {
  template <typename Handler>
  void operator()(Handler&& handler, tcp::socket* socket, boost::asio::mutable_buffer buffer,
                  adetail::epoll_reactor* reactor) const {
    using Decayed = std::decay_t<Handler>;
    using IoExecutor = tcp::socket::executor_type;
    using Op = ReadOp<Decayed, IoExecutor>;
    auto& impl = ((*socket).*SocketAccess::impl).get_implementation();
    const IoExecutor io_ex = socket->get_executor();
    Decayed h(std::forward<Handler>(handler));
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(h);
    auto slot = boost::asio::get_associated_cancellation_slot(h);
    typename Op::ptr p = {boost::asio::detail::addressof(h), Op::ptr::allocate(h), nullptr};
    p.p = new (p.v) Op(impl.socket_, buffer.data(), buffer.size(), h, io_ex);
    if (slot.is_connected())
      p.p->cancellation_key_ =
          &slot.template emplace<Cancellation>(reactor, &impl.reactor_data_, impl.socket_);
    // As reactive_socket_service_base::start_op: the socket must be non-blocking for the reactor.
    if (buffer.size() != 0 &&
        ((impl.state_ & adetail::socket_ops::non_blocking) ||
         adetail::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_))) {
      reactor->start_op(adetail::epoll_reactor::read_op, impl.socket_, impl.reactor_data_, p.p,
                        is_continuation,
                        /*allow_speculative=*/true);
    } else {
      reactor->post_immediate_completion(p.p, is_continuation);  // an empty buffer reads nothing at once
    }
    p.v = p.p = nullptr;
  }
};

}  // namespace drained_detail

// The reactor of the socket's io_context: looked up once (a service registry search), then
// handed to every read.
inline boost::asio::detail::epoll_reactor& reactor_of(const boost::asio::any_io_executor& executor) {
  return boost::asio::use_service<boost::asio::detail::epoll_reactor>(
      boost::asio::query(executor, boost::asio::execution::context));
}

// async_read_some into `buffer` (non-empty) that marks the socket drained after a short read
// (see above). Completes with (error_code, bytes), bytes > 0 unless there is an error (end of
// stream: asio::error::eof).
template <typename Token>
auto async_read_some_drained(boost::asio::ip::tcp::socket& socket, boost::asio::mutable_buffer buffer,
                             boost::asio::detail::epoll_reactor& reactor, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
      drained_detail::Initiate{}, token, &socket, buffer, &reactor);
}

}  // namespace jobd::http
