#include "store/redis/options.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace jobd::store::redis {

Secret::~Secret() {
  // Overwrite the bytes before the allocator reuses them (a core dump or a later allocation
  // should not show them); volatile so the stores are not optimised away.
  volatile char* bytes = value_.data();
  for (std::size_t i = 0; i < value_.size(); ++i) bytes[i] = 0;
}

LoadedPassword load_redis_password(const char* value, const char* file) {
  if (value != nullptr && file != nullptr) {
    return std::string(
        "give the redis password in JOBD_REDIS_PASSWORD or JOBD_REDIS_PASSWORD_FILE, not both");
  }
  if (value != nullptr) {
    if (*value == '\0') return std::string("JOBD_REDIS_PASSWORD is set but empty");
    return Secret(value);
  }
  if (file == nullptr) return Secret();
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return std::string("cannot read the redis password file ") + file +
           " (JOBD_REDIS_PASSWORD_FILE): " + std::strerror(errno);
  }
  std::ostringstream content;
  content << in.rdbuf();
  std::string text = content.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return std::string("the redis password file ") + file + " is empty";
  Secret secret(std::move(text));
  return secret;
}

LoadedPassword load_redis_password_from_environment() {
  return load_redis_password(std::getenv("JOBD_REDIS_PASSWORD"), std::getenv("JOBD_REDIS_PASSWORD_FILE"));
}

}  // namespace jobd::store::redis
