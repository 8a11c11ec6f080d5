// The fast path of POST /v1/jobs: the usual body read straight from its text into the spec. The
// DOM path (a nlohmann document, then parse_job_spec) costs ~15 allocations per submit; this one
// allocates only the params' own document. It takes a deliberately small grammar, and declines
// (nullopt) anything outside it or anything the DOM path would refuse, so every refusal and
// every unusual body still gets the DOM path's answer.
#include <charconv>
#include <cstdint>

#include "job_spec_fields.hpp"
#include "jobd/proto/job_spec.hpp"

namespace jobd::proto {

namespace {

using detail::Field;

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  void skip_space() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\r' || text_[at_] == '\t')) {
      ++at_;
    }
  }
  bool eat(char c) {
    skip_space();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    skip_space();
    return at_ < text_.size() && text_[at_] == c;
  }
  bool at_end() {
    skip_space();
    return at_ == text_.size();
  }

  // A string of printable ASCII without escapes (anything else: declined, the DOM path decodes it).
  std::optional<std::string_view> string() {
    if (!eat('"')) return std::nullopt;
    const std::size_t start = at_;
    while (at_ < text_.size()) {
      const auto c = static_cast<unsigned char>(text_[at_]);
      if (c == '"') return text_.substr(start, at_++ - start);
      if (c < 0x20 || c > 0x7e || c == '\\') return std::nullopt;
      ++at_;
    }
    return std::nullopt;
  }

  // An integer as nlohmann reads it: unsigned when not negative, signed when negative. Fractions,
  // exponents and numbers that may not fit 64 bits are declined (nlohmann makes those floats).
  std::optional<nlohmann::json> integer() {
    skip_space();
    const std::size_t start = at_;
    const bool negative = at_ < text_.size() && text_[at_] == '-';
    if (negative) ++at_;
    const std::size_t digits = at_;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') ++at_;
    const std::size_t count = at_ - digits;
    if (count == 0 || count > 18 || (count > 1 && text_[digits] == '0')) return std::nullopt;
    if (at_ < text_.size() && (text_[at_] == '.' || text_[at_] == 'e' || text_[at_] == 'E'))
      return std::nullopt;
    std::int64_t value = 0;
    std::from_chars(text_.data() + start, text_.data() + at_, value);
    if (negative) return nlohmann::json(value);
    return nlohmann::json(static_cast<std::uint64_t>(value));
  }

  bool literal(std::string_view word) {
    skip_space();
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  // A value of a flat params object: a string, an integer, true, false or null.
  std::optional<nlohmann::json> scalar() {
    if (peek('"')) {
      auto text = string();
      if (!text) return std::nullopt;
      return nlohmann::json(std::string(*text));
    }
    if (literal("true")) return nlohmann::json(true);
    if (literal("false")) return nlohmann::json(false);
    if (literal("null")) return nlohmann::json(nullptr);
    return integer();
  }

  // A flat object of scalars, its members added to `object` (an empty object: the spec's own,
  // so no second document is made); a name given twice is declined (the DOM path refuses it).
  bool flat_object(nlohmann::json& object) {
    if (!eat('{')) return false;
    if (eat('}')) return true;
    auto& members = object.get_ref<nlohmann::json::object_t&>();
    do {
      auto name = string();
      if (!name || !eat(':')) return false;
      auto value = scalar();
      if (!value || !members.emplace(std::string(*name), std::move(*value)).second) return false;
    } while (eat(','));
    return eat('}');
  }

 private:
  std::string_view text_;
  std::size_t at_ = 0;
};

}  // namespace

std::optional<JobSpec> parse_common_job_spec(std::string_view body) {
  Reader in(body);
  if (!in.eat('{')) return std::nullopt;
  JobSpec spec;
  unsigned seen = 0;  // one bit per field: a member given twice is declined
  if (!in.eat('}')) {
    do {
      const auto name = in.string();
      if (!name || !in.eat(':')) return std::nullopt;
      const Field field = detail::field_of(*name);
      if (field == Field::unknown) return std::nullopt;
      const unsigned bit = 1U << static_cast<unsigned>(field);
      if ((seen & bit) != 0) return std::nullopt;
      seen |= bit;
      if (field == Field::params) {
        if (!in.flat_object(spec.params)) return std::nullopt;
      } else if (detail::is_text_field(field)) {
        const auto text = in.string();
        if (!text || detail::set_text_field(spec, field, &*text)) return std::nullopt;
      } else {
        const auto number = in.integer();
        if (!number || detail::set_number_field(spec, field, *number)) return std::nullopt;
      }
    } while (in.eat(','));
    if (!in.eat('}')) return std::nullopt;
  }
  if (!in.at_end() || detail::check_spec(spec)) return std::nullopt;
  return spec;
}

}  // namespace jobd::proto
