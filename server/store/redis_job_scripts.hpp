// The Lua scripts of the Redis job model (redis_jobs.hpp), one per operation that must be
// atomic. Their contracts (arguments, replies) are written beside each one in the .cpp and in
// DESIGN §2 "Redis store".
#pragma once

#include <string>

namespace jobd::store::redis_scripts {

const std::string& submit();
const std::string& start();
const std::string& renew();
const std::string& finish();
const std::string& reclaim();
const std::string& promote_due();
const std::string& cancel();
const std::string& list();

}  // namespace jobd::store::redis_scripts
