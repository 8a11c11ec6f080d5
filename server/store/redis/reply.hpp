// Reply: one Redis (RESP2) reply as a value jobd owns, converted from hiredis's redisReply in
// the reply callback (hiredis frees its own copy when the callback returns).
//
// A variant over the six RESP2 types; strings are byte strings (NULs allowed). An error reply
// (`-ERR ...`) is a Reply, not an error_code: the command reached Redis and Redis answered.
//
// Must never: depend on hiredis (the conversion lives in hiredis_reply.hpp), so the store's
// code and its tests can build replies by hand.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace jobd::store::redis {

class Reply {
 public:
  struct Nil {
    bool operator==(const Nil&) const = default;
  };
  struct Status {  // +OK
    std::string text;
    bool operator==(const Status&) const = default;
  };
  struct Error {  // -ERR unknown command ...
    std::string text;
    bool operator==(const Error&) const = default;
  };
  using Array = std::vector<Reply>;
  using Value = std::variant<Nil, std::int64_t, Status, Error, std::string, Array>;

  Reply() = default;  // nil
  Reply(Value value) : value_(std::move(value)) {}

  static Reply nil() { return {}; }
  static Reply integer(std::int64_t n) { return Reply(Value(n)); }
  static Reply status(std::string text) { return Reply(Value(Status{std::move(text)})); }
  static Reply error(std::string text) { return Reply(Value(Error{std::move(text)})); }
  static Reply string(std::string bytes) { return Reply(Value(std::move(bytes))); }
  static Reply array(Array elements) { return Reply(Value(std::move(elements))); }

  const Value& value() const { return value_; }
  bool is_nil() const { return std::holds_alternative<Nil>(value_); }
  bool is_integer() const { return std::holds_alternative<std::int64_t>(value_); }
  bool is_status() const { return std::holds_alternative<Status>(value_); }
  bool is_error() const { return std::holds_alternative<Error>(value_); }
  bool is_string() const { return std::holds_alternative<std::string>(value_); }
  bool is_array() const { return std::holds_alternative<Array>(value_); }

  // Typed access: nullptr / nullopt when the reply is of another type.
  std::optional<std::int64_t> as_integer() const;
  const std::string* as_string() const { return std::get_if<std::string>(&value_); }
  const Array* as_array() const { return std::get_if<Array>(&value_); }
  std::string* as_string() { return std::get_if<std::string>(&value_); }  // to move the bytes out
  Array* as_array() { return std::get_if<Array>(&value_); }
  // The text of a status or an error reply, the bytes of a string; empty otherwise.
  std::string_view text() const;
  // An error reply whose first word is `code` (e.g. "NOSCRIPT", "WRONGPASS", "BUSYGROUP").
  bool is_error_code(std::string_view code) const;

  bool operator==(const Reply&) const = default;

 private:
  Value value_;
};

// redis-cli's rendering (`(nil)`, `(integer) 3`, `"a\x00b"`, `1) ...`): for logs and test
// failures. Strings are escaped, so the output is always printable.
std::string describe(const Reply& reply);

}  // namespace jobd::store::redis
