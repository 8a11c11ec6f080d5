#include "api/event_fanout.hpp"

#include <pthread.h>
#include <unistd.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace jobd::api {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::string_view kHeartbeat = ": keep-alive\n\n";
}  // namespace

// One stream on the fan-out thread. Its handlers hold it (shared_ptr) until they ran, so that
// ending it (release or close of the socket, which aborts them) never frees it under them.
class EventFanout::Stream : public std::enable_shared_from_this<Stream> {
 public:
  Stream(EventFanout& owner, std::uint64_t id, int fd, SubscriberQueue queue, FanoutStreamOptions options,
         Ended ended)
      : owner_(owner),
        id_(id),
        socket_(owner.context_),
        timer_(owner.context_),
        queue_(std::move(queue)),
        options_(options),
        ended_(std::move(ended)) {
    boost::system::error_code error;
    // The protocol tag matters only for endpoints, which nothing here asks for.
    socket_.assign(tcp::v4(), fd, error);
    if (error) ::close(fd);
  }

  SubscriberQueue& queue() { return queue_; }

  void start() {
    if (!socket_.is_open()) {
      finish(false);
      return;
    }
    last_write_ = Clock::now();
    read();
    arm(last_write_ + options_.heartbeat);
    pump();
  }

  // Writes what is queued, unless a write is under way; a closed stream ends once all is out.
  void pump() {
    if (done_ || writing_) return;
    if (queue_.ready()) {
      const auto buffers = queue_.take();
      write(buffers, false);
    } else if (closing_) {
      finish(true);
    }
  }

  void close() {
    closing_ = true;
    pump();
  }

 private:
  template <class Buffers>
  void write(const Buffers& buffers, bool heartbeat) {
    writing_ = true;
    write_started_ = Clock::now();
    // The timer is usually armed earlier already (re-arming it at every write would cost a
    // timer operation per write).
    const auto deadline = write_started_ + std::min(options_.write_timeout, options_.heartbeat);
    if (deadline < armed_for_) arm(deadline);
    asio::async_write(socket_, buffers,
                      [self = shared_from_this(), heartbeat](boost::system::error_code error, std::size_t) {
                        self->written(error, heartbeat);
                      });
  }

  void written(boost::system::error_code error, bool heartbeat) {
    writing_ = false;
    if (!heartbeat) queue_.written();
    last_write_ = Clock::now();
    if (done_) return;
    if (error) {
      finish(false);
      return;
    }
    pump();
  }

  // Reads and drops what the client sends: its end (or a reset) ends the stream at once.
  void read() {
    socket_.async_read_some(asio::buffer(sink_),
                            [self = shared_from_this()](boost::system::error_code error, std::size_t) {
                              if (self->done_) return;
                              if (error) {
                                self->finish(false);
                                return;
                              }
                              self->read();
                            });
  }

  void arm(Clock::time_point at) {
    armed_for_ = at;
    timer_.expires_at(at);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
      if (error || self->done_) return;
      self->tick();
    });
  }

  // The heartbeat of an idle stream, the cut of a stalled one.
  void tick() {
    const auto now = Clock::now();
    armed_for_ = Clock::time_point::max();
    if (writing_) {
      const auto cut_at = write_started_ + options_.write_timeout;
      if (now >= cut_at) {
        finish(false);
        return;
      }
      arm(std::min(cut_at, now + options_.heartbeat));
      return;
    }
    if (now >= last_write_ + options_.heartbeat) {
      // A comment line keeps proxies and load balancers from closing an idle stream.
      write(asio::buffer(kHeartbeat), true);
      return;
    }
    arm(last_write_ + options_.heartbeat);
  }

  // Ends the stream: the descriptor goes back to the loop (`give_back`) or is closed.
  void finish(bool give_back) {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    boost::system::error_code error;
    int fd = -1;
    if (give_back && socket_.is_open()) {
      fd = socket_.release(error);  // aborts the pending read
      if (error) fd = -1;
    } else {
      socket_.close(error);
    }
    asio::post(owner_.loop_, [ended = std::move(ended_), fd] { ended(fd); });
    owner_.streams_.erase(id_);  // may free this: nothing below
  }

  EventFanout& owner_;
  std::uint64_t id_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  SubscriberQueue queue_;
  FanoutStreamOptions options_;
  Ended ended_;
  std::array<char, 512> sink_{};
  Clock::time_point last_write_{};
  Clock::time_point write_started_{};
  Clock::time_point armed_for_ = Clock::time_point::max();
  bool writing_ = false;
  bool closing_ = false;
  bool done_ = false;
};

EventFanout::EventFanout(asio::any_io_executor loop)
    : loop_(std::move(loop)), work_(asio::make_work_guard(context_)) {}

EventFanout::~EventFanout() {
  work_.reset();
  context_.stop();
  if (thread_.joinable()) thread_.join();
}

void EventFanout::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "jobd-fanout");
    context_.run();
  });
}

void EventFanout::publish(std::shared_ptr<const FrameBatch> batch, std::uint64_t keep_from) {
  start();
  asio::post(context_, [this, batch = std::move(batch), keep_from] {
    recent_.push_back(batch);
    while (!recent_.empty() && recent_.front()->seq < keep_from) recent_.pop_front();
    // pump() may end a closed stream, which leaves the map: step past it first.
    for (auto it = streams_.begin(); it != streams_.end();) {
      const std::shared_ptr<Stream> stream = it->second;
      ++it;
      stream->queue().add(batch);
      stream->pump();
    }
  });
}

std::uint64_t EventFanout::open(int fd, EventFilter filter, FramePosition from, FanoutStreamOptions options,
                                Ended ended) {
  start();
  const std::uint64_t id = next_id_++;
  asio::post(context_, [this, id, fd, filter = std::move(filter), from, options,
                        ended = std::move(ended)]() mutable {
    auto stream = std::make_shared<Stream>(
        *this, id, fd, SubscriberQueue(std::move(filter), options.buffer, from), options, std::move(ended));
    for (const auto& batch : recent_) stream->queue().add(batch);
    streams_.emplace(id, stream);
    stream->start();
  });
  return id;
}

void EventFanout::close(std::uint64_t id) {
  asio::post(context_, [this, id] {
    if (auto it = streams_.find(id); it != streams_.end()) {
      const std::shared_ptr<Stream> stream = it->second;  // close() may take it out of the map
      stream->close();
    }
  });
}

}  // namespace jobd::api
