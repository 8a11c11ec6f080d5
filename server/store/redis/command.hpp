// Command: one Redis command as its arguments, encoded once as a RESP array of bulk strings
// (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`), the form hiredis queues with redisAsyncFormattedCommand.
//
// Binary-safe: every argument is a length-prefixed byte string, NULs and CRLFs included. The
// encoding happens when the command is built, so a Command owns its bytes and nothing it was
// built from has to outlive the call that sends it.
//
// Must never: depend on hiredis or do I/O; it is tested byte by byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace jobd::store::redis {

class Command {
 public:
  Command() = default;
  explicit Command(std::span<const std::string_view> args);
  // Command::of("SET", key, value), arguments as strings or integers.
  template <typename... Args>
  static Command of(const Args&... args) {
    Command command;
    (command.arg(args), ...);
    return command;
  }

  Command& arg(std::string_view bytes);
  Command& arg(const char* text) { return arg(std::string_view(text)); }
  Command& arg(const std::string& bytes) { return arg(std::string_view(bytes)); }
  Command& arg(std::int64_t n);
  Command& arg(int n) { return arg(static_cast<std::int64_t>(n)); }
  Command& arg(std::uint64_t n);
  // The arguments of `other`, after this command's.
  Command& append(const Command& other);

  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The first argument as given (the command's name), for logs: never the arguments, which
  // may be a password (AUTH) or a job's data.
  std::string_view name() const { return name_; }
  // The whole command in RESP: "*N\r\n" then the arguments.
  std::string encoded() const;

 private:
  std::size_t count_ = 0;
  std::string name_;
  std::string body_;  // the arguments, each "$len\r\nbytes\r\n"
};

}  // namespace jobd::store::redis
