// Pub/Sub messages as Redis pushes them on a subscribed connection, parsed from a Reply.
//
// A subscribed connection receives three-element arrays ("message", channel, payload),
// four-element ones ("pmessage", pattern, channel, payload), and confirmations ("subscribe",
// name, count); parse_pubsub tells them apart.
//
// Must never: do I/O (pure; unit-tested).
#pragma once

#include <cstdint>
#include <string>

#include "store/redis/reply.hpp"

namespace jobd::store::redis {

struct PubSubMessage {
  std::string channel;
  std::string payload;
  std::string pattern;  // the matching pattern for a PSUBSCRIBE delivery, empty otherwise
  bool operator==(const PubSubMessage&) const = default;
};

struct PubSubEvent {
  enum class Kind { message, subscribed, unsubscribed, other };
  Kind kind = Kind::other;
  PubSubMessage message;   // kind == message
  std::string name;        // subscribed/unsubscribed: the channel or the pattern
  std::int64_t count = 0;  // subscribed/unsubscribed: subscriptions the connection now has
};

PubSubEvent parse_pubsub(Reply reply);

}  // namespace jobd::store::redis
