// EventFanout: the thread that writes GET /v1/events streams, so that the loop thread does not.
//
// With 500 subscribers taking every event, writing them cost the loop 19x the CPU per job of no
// subscriber (bench/RESULTS.md): the bytes (kernel TCP send and loopback receive), the copy of
// each frame into each stream's write, the per-write machinery. Now the loop renders each event
// once into a FrameBatch and posts the batch here every 20 ms (AllEventsHub); this thread, with
// its own io_context, owns the streams' sockets (handed over by the HTTP session, which awaits
// the end) and does everything per subscriber: the filter, the bounded queue and its `dropped`
// count, gather writes straight out of the shared batches, heartbeats, the write timeout, and
// noticing the client leave (it reads, and drops what it reads).
//
// What crosses threads: batches (immutable, shared_ptr<const>, loop -> here), descriptors
// (loop -> here at open, back at the end), and the end of a stream (here -> loop, a post).
// Every other member is touched by one thread only: the public functions on the loop thread,
// the rest on this one. The thread starts with the first stream and is joined by the
// destructor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <unordered_map>

#include "api/fanout_queue.hpp"
#include "api/frame_batch.hpp"

namespace jobd::api {

struct FanoutStreamOptions {
  std::size_t buffer = 1024;  // frames queued unwritten before it drops
  std::chrono::milliseconds heartbeat{15'000};
  std::chrono::milliseconds write_timeout{60'000};  // a reader that stops reading is cut
};

class EventFanout {
 public:
  // Called on the loop with the descriptor given back (the stream was closed), or -1 (the
  // client went away or stopped reading, and the descriptor is closed).
  using Ended = std::function<void(int fd)>;

  explicit EventFanout(boost::asio::any_io_executor loop);
  ~EventFanout();
  EventFanout(const EventFanout&) = delete;
  EventFanout& operator=(const EventFanout&) = delete;

  // Loop thread only. Each posts to the fan-out thread and returns.
  // A batch for every open stream. Batches from `keep_from` on are also kept for the streams
  // subscribed there whose open() is still to come (their head being written): each gets every
  // event after it subscribed, however many batches went by meanwhile.
  void publish(std::shared_ptr<const FrameBatch> batch, std::uint64_t keep_from);
  // Serves the connected socket `fd` (its response head written) from `from` on.
  std::uint64_t open(int fd, EventFilter filter, FramePosition from, FanoutStreamOptions options,
                     Ended ended);
  // Ends a stream once what it has queued is written; its descriptor goes back to the loop.
  void close(std::uint64_t id);

 private:
  class Stream;
  void start();

  boost::asio::any_io_executor loop_;
  boost::asio::io_context context_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::uint64_t next_id_ = 0;  // loop thread
  // Fan-out thread only (declared after the context: destroyed before it).
  std::unordered_map<std::uint64_t, std::shared_ptr<Stream>> streams_;
  std::deque<std::shared_ptr<const FrameBatch>> recent_;
  std::thread thread_;
};

}  // namespace jobd::api
