// from_hiredis: a hiredis redisReply, copied into a Reply (reply.hpp).
//
// Pure: called in hiredis's reply callbacks, and tested byte by byte by feeding RESP to
// hiredis's own reader (redisReader), no socket involved.
//
// Must never: keep a pointer into the redisReply (hiredis frees it when the callback returns).
#pragma once

#include <hiredis/hiredis.h>

#include "store/redis/reply.hpp"

namespace jobd::store::redis {

Reply from_hiredis(const redisReply& reply);

}  // namespace jobd::store::redis
