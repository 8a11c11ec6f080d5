#include "store/redis/reply.hpp"

#include <cstdio>

namespace jobd::store::redis {
namespace {

void quote(std::string& out, std::string_view bytes) {
  out += '"';
  for (unsigned char c : bytes) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  out += '"';
}

void render(std::string& out, const Reply& reply, std::size_t indent) {
  struct Visitor {
    std::string& out;
    std::size_t indent;
    void operator()(const Reply::Nil&) const { out += "(nil)"; }
    void operator()(std::int64_t n) const { out += "(integer) " + std::to_string(n); }
    void operator()(const Reply::Status& s) const { out += s.text; }
    void operator()(const Reply::Error& e) const { out += "(error) " + e.text; }
    void operator()(const std::string& s) const { quote(out, s); }
    void operator()(const Reply::Array& a) const {
      if (a.empty()) {
        out += "(empty array)";
        return;
      }
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i > 0) {
          out += '\n';
          out.append(indent, ' ');
        }
        const std::string number = std::to_string(i + 1);
        out.append(number).append(") ");
        render(out, a[i], indent + number.size() + 2);
      }
    }
  };
  std::visit(Visitor{out, indent}, reply.value());
}

}  // namespace

std::optional<std::int64_t> Reply::as_integer() const {
  if (const auto* n = std::get_if<std::int64_t>(&value_)) return *n;
  return std::nullopt;
}

std::string_view Reply::text() const {
  if (const auto* s = std::get_if<std::string>(&value_)) return *s;
  if (const auto* s = std::get_if<Status>(&value_)) return s->text;
  if (const auto* e = std::get_if<Error>(&value_)) return e->text;
  return {};
}

bool Reply::is_error_code(std::string_view code) const {
  const auto* e = std::get_if<Error>(&value_);
  if (e == nullptr || e->text.compare(0, code.size(), code) != 0) return false;
  return e->text.size() == code.size() || e->text[code.size()] == ' ';
}

std::string describe(const Reply& reply) {
  std::string out;
  render(out, reply, 0);
  return out;
}

}  // namespace jobd::store::redis
