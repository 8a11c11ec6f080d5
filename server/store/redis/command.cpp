#include "store/redis/command.hpp"

namespace jobd::store::redis {

Command::Command(std::span<const std::string_view> args) {
  for (std::string_view a : args) arg(a);
}

Command& Command::arg(std::string_view bytes) {
  if (count_ == 0) name_ = std::string(bytes.substr(0, 32));
  ++count_;
  body_ += '$';
  body_ += std::to_string(bytes.size());
  body_ += "\r\n";
  body_.append(bytes.data(), bytes.size());
  body_ += "\r\n";
  return *this;
}

Command& Command::arg(std::int64_t n) { return arg(std::string_view(std::to_string(n))); }
Command& Command::arg(std::uint64_t n) { return arg(std::string_view(std::to_string(n))); }

Command& Command::append(const Command& other) {
  if (count_ == 0) name_ = other.name_;
  count_ += other.count_;
  body_ += other.body_;
  return *this;
}

std::string Command::encoded() const {
  std::string out;
  const std::string count = std::to_string(count_);
  out.reserve(body_.size() + count.size() + 3);
  out += '*';
  out += count;
  out += "\r\n";
  out += body_;
  return out;
}

}  // namespace jobd::store::redis
