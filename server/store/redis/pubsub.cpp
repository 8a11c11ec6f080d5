#include "store/redis/pubsub.hpp"

#include <string_view>

namespace jobd::store::redis {
namespace {

std::string take_string(Reply& reply) {
  if (auto* s = reply.as_string()) return std::move(*s);
  return {};
}

}  // namespace

PubSubEvent parse_pubsub(Reply reply) {
  PubSubEvent event;
  auto* array = reply.as_array();
  if (array == nullptr || array->size() < 3 || !(*array)[0].is_string()) return event;
  Reply::Array& parts = *array;
  const std::string_view type = parts[0].text();
  if (type == "message") {
    event.kind = PubSubEvent::Kind::message;
    event.message.channel = take_string(parts[1]);
    event.message.payload = take_string(parts[2]);
  } else if (type == "pmessage" && parts.size() >= 4) {
    event.kind = PubSubEvent::Kind::message;
    event.message.pattern = take_string(parts[1]);
    event.message.channel = take_string(parts[2]);
    event.message.payload = take_string(parts[3]);
  } else if (type == "subscribe" || type == "psubscribe" || type == "unsubscribe" || type == "punsubscribe") {
    event.kind =
        type.ends_with("unsubscribe") ? PubSubEvent::Kind::unsubscribed : PubSubEvent::Kind::subscribed;
    event.name = take_string(parts[1]);
    event.count = parts[2].as_integer().value_or(0);
  }
  return event;
}

}  // namespace jobd::store::redis
