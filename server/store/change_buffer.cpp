#include "store/change_buffer.hpp"

#include <cstring>
#include <iterator>
#include <type_traits>

namespace jobd::store {
namespace {

// A change's texts, in the order they follow its header: the fixed ones, then the mutable ones.
enum Text : std::uint8_t {
  id,
  kind,
  params,
  idempotency_key,
  result,  // the first mutable text
  error_type,
  error_message,
  details,
  attempts,
  kTexts,
};

// Which optional values a change has (Header::present).
enum Present : std::uint8_t {
  has_idempotency_key = 1,
  has_started_at = 2,
  has_finished_at = 4,
  has_run_at = 8,
};
constexpr std::uint8_t kMutablePresent = has_started_at | has_finished_at | has_run_at;

// Read and written with memcpy: a change starts wherever the one before it ended.
struct Header {
  std::uint32_t size;  // the whole change, header included
  ChangeOp op;
  proto::Executor executor;
  proto::JobState state;
  std::uint8_t present;
  std::uint64_t seq;
  std::int64_t timeout_ms;
  std::int64_t created_at_ms;
  std::int64_t retry_delay_ms;
  std::int64_t started_at_ms;
  std::int64_t finished_at_ms;
  std::int64_t run_at_ms;
  std::uint32_t max_attempts;
  std::uint32_t attempt;
  std::uint32_t length[kTexts];
};
static_assert(std::is_trivially_copyable_v<Header>);

void set_optional(Header& header, std::int64_t& into, Present bit, const std::optional<std::int64_t>& value) {
  into = value.value_or(0);
  if (value) header.present |= bit;
}

// The mutable values into the header; their texts are appended by the caller, in Text order.
void set_mutable(Header& header, const RowRef& row) {
  header.state = row.state;
  header.attempt = row.attempt;
  header.present &= static_cast<std::uint8_t>(~kMutablePresent);
  set_optional(header, header.started_at_ms, has_started_at, row.started_at_ms);
  set_optional(header, header.finished_at_ms, has_finished_at, row.finished_at_ms);
  set_optional(header, header.run_at_ms, has_run_at, row.run_at_ms);
  header.length[result] = static_cast<std::uint32_t>(row.result_json.size());
  header.length[error_type] = static_cast<std::uint32_t>(row.error_type.size());
  header.length[error_message] = static_cast<std::uint32_t>(row.error_message.size());
  header.length[details] = static_cast<std::uint32_t>(row.details_json.size());
  header.length[attempts] = static_cast<std::uint32_t>(row.attempts_json.size());
}

void put(std::vector<char>& bytes, std::string_view text) {
  bytes.insert(bytes.end(), text.begin(), text.end());
}

void put_mutable(std::vector<char>& bytes, const RowRef& row) {
  put(bytes, row.result_json);
  put(bytes, row.error_type);
  put(bytes, row.error_message);
  put(bytes, row.details_json);
  put(bytes, row.attempts_json);
}

std::optional<std::int64_t> optional_of(const Header& header, Present bit, std::int64_t value) {
  if ((header.present & bit) == 0) return std::nullopt;
  return value;
}

}  // namespace

bool ChangeBuffer::append(ChangeOp op, const RowRef& row) {
  Header header;
  if (op == ChangeOp::update && last_ != kNone) {
    std::memcpy(&header, bytes_.data() + last_, sizeof header);
    if (header.op != ChangeOp::remove && header.seq == row.seq) {
      std::size_t fixed = 0;
      for (std::size_t text = 0; text < result; ++text) fixed += header.length[text];
      bytes_.resize(last_ + sizeof header + fixed);  // the earlier mutable texts go
      set_mutable(header, row);
      put_mutable(bytes_, row);
      header.size = static_cast<std::uint32_t>(bytes_.size() - last_);
      std::memcpy(bytes_.data() + last_, &header, sizeof header);
      return true;
    }
  }
  std::memset(&header, 0, sizeof header);
  header.op = op;
  header.seq = row.seq;
  const std::size_t start = bytes_.size();
  bytes_.resize(start + sizeof header);
  if (op != ChangeOp::remove) {  // a remove is its seq alone; an update has no fixed values
    if (op == ChangeOp::insert) {
      header.executor = row.executor;
      header.timeout_ms = row.timeout_ms;
      header.created_at_ms = row.created_at_ms;
      header.retry_delay_ms = row.retry_delay_ms;
      header.max_attempts = row.max_attempts;
      header.length[id] = static_cast<std::uint32_t>(row.id.size());
      header.length[kind] = static_cast<std::uint32_t>(row.kind.size());
      header.length[params] = static_cast<std::uint32_t>(row.params_json.size());
      put(bytes_, row.id);
      put(bytes_, row.kind);
      put(bytes_, row.params_json);
      if (row.idempotency_key) {
        header.present |= has_idempotency_key;
        header.length[idempotency_key] = static_cast<std::uint32_t>(row.idempotency_key->size());
        put(bytes_, *row.idempotency_key);
      }
    }
    set_mutable(header, row);
    put_mutable(bytes_, row);
  }
  header.size = static_cast<std::uint32_t>(bytes_.size() - start);
  std::memcpy(bytes_.data() + start, &header, sizeof header);
  last_ = start;
  return false;
}

void ChangeBuffer::append(const ChangeBuffer& other) {
  bytes_.insert(bytes_.end(), other.bytes_.begin(), other.bytes_.end());
  last_ = kNone;
}

void ChangeBuffer::decode(std::vector<ChangeRef>& out) const {
  for (std::size_t at = 0; at < bytes_.size();) {
    Header header;
    std::memcpy(&header, bytes_.data() + at, sizeof header);
    std::string_view texts[kTexts];
    const char* next = bytes_.data() + at + sizeof header;
    for (std::size_t text = 0; text < kTexts; ++text) {
      texts[text] = {next, header.length[text]};
      next += header.length[text];
    }
    ChangeRef& change = out.emplace_back();
    change.op = header.op;
    RowRef& row = change.row;
    row.seq = header.seq;
    row.id = texts[id];
    row.kind = texts[kind];
    row.executor = header.executor;
    row.params_json = texts[params];
    if (header.present & has_idempotency_key) row.idempotency_key = texts[idempotency_key];
    row.timeout_ms = header.timeout_ms;
    row.created_at_ms = header.created_at_ms;
    row.max_attempts = header.max_attempts;
    row.retry_delay_ms = header.retry_delay_ms;
    row.state = header.state;
    row.started_at_ms = optional_of(header, has_started_at, header.started_at_ms);
    row.finished_at_ms = optional_of(header, has_finished_at, header.finished_at_ms);
    row.run_at_ms = optional_of(header, has_run_at, header.run_at_ms);
    row.attempt = header.attempt;
    row.result_json = texts[result];
    row.error_type = texts[error_type];
    row.error_message = texts[error_message];
    row.details_json = texts[details];
    row.attempts_json = texts[attempts];
    at += header.size;
  }
}

}  // namespace jobd::store
