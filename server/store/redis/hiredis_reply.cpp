#include "store/redis/hiredis_reply.hpp"

namespace jobd::store::redis {

Reply from_hiredis(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_STRING: return Reply::string(std::string(reply.str, reply.len));
    case REDIS_REPLY_STATUS: return Reply::status(std::string(reply.str, reply.len));
    case REDIS_REPLY_ERROR: return Reply::error(std::string(reply.str, reply.len));
    case REDIS_REPLY_INTEGER: return Reply::integer(reply.integer);
    case REDIS_REPLY_ARRAY: {
      Reply::Array elements;
      elements.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i) elements.push_back(from_hiredis(*reply.element[i]));
      return Reply::array(std::move(elements));
    }
    default: return Reply::nil();  // REDIS_REPLY_NIL (RESP2 has no other type)
  }
}

}  // namespace jobd::store::redis
