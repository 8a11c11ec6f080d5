#include "jobs/record.hpp"

#include <array>
#include <charconv>

#include "kinds/kind.hpp"

namespace jobd::jobs {

namespace {

constexpr auto kReplace = nlohmann::json::error_handler_t::replace;

// nlohmann's dump() builds a serializer per call: a shared output adapter and a 512-byte indent
// string, then the text grows by doubling (and to_json_text shrank it): four allocations for a
// small object. One serializer per thread writes into whatever string `Appender` points at.
class Appender final : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  void write_character(char c) override { target->push_back(c); }
  void write_characters(const char* s, std::size_t length) override { target->append(s, length); }
  std::string* target = nullptr;
};

struct Dumper {
  Appender appender;
  // The aliasing constructor: a pointer to the member, owning nothing (no control block).
  nlohmann::detail::serializer<nlohmann::json> serializer{
      nlohmann::detail::output_adapter_t<char>(std::shared_ptr<void>(), &appender), ' ', kReplace};
  std::string scratch;
};

Dumper& dumper() {
  thread_local Dumper instance;
  return instance;
}

// Appends `value` as compact JSON, exactly as value.dump(-1, ' ', false, kReplace) writes it.
void append_dump(std::string& out, const nlohmann::json& value) {
  Dumper& d = dumper();
  d.appender.target = &out;
  d.serializer.dump(value, false, false, 0);
}

// The record's own field names: an executor field by one of these names would make a record
// with a duplicate member (which readers resolve differently), so it is dropped.
constexpr std::array<std::string_view, 18> kRecordFields{
    "id",         "kind",         "executor", "state",    "params",          "created_at",
    "timeout_ms", "max_attempts", "attempt",  "run_at",   "started_at",      "finished_at",
    "progress",   "result",       "error",    "attempts", "idempotency_key", "at"};

void append_number(std::string& out, std::string_view name, std::int64_t value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out += ",\"";
  out += name;
  out += "\":";
  out.append(digits, end);
}

bool is_record_field(std::string_view name) {
  for (auto field : kRecordFields) {
    if (field == name) return true;
  }
  return false;
}

void append_member(std::string& out, std::string_view name, const nlohmann::json& value) {
  append_json_string(out, name);
  out += ':';
  append_dump(out, value);
}

void append_time(std::string& out, std::string_view name, Clock::time_point time) {
  out += ",\"";
  out += name;
  out += "\":\"";
  append_rfc3339(out, time);
  out += '"';
}

}  // namespace

std::string to_json_text(const nlohmann::json& value) {
  // Rendered into a scratch string kept per thread, then copied once at its exact size: a
  // kept text holds no slack.
  Dumper& d = dumper();
  d.scratch.clear();
  d.appender.target = &d.scratch;
  d.serializer.dump(value, false, false, 0);
  std::string text(d.scratch);
  if (d.scratch.capacity() > std::size_t{64} * 1024) std::string().swap(d.scratch);  // keep no large buffer
  return text;
}

void append_json_string(std::string& out, std::string_view text) {
  // Printable ASCII without quote or backslash is written as it is: ids, kind names, error
  // types, idempotency keys. Anything else takes nlohmann's own escaping, so the two agree.
  for (const unsigned char c : text) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      append_dump(out, nlohmann::json(text));
      return;
    }
  }
  out += '"';
  out += text;
  out += '"';
}

DetailsText to_details_text(const nlohmann::json& details) {
  DetailsText out;
  if (!details.is_object()) return out;
  const auto brief = [](const nlohmann::json& value) { return value.is_number() || value.is_boolean(); };
  out.text = "{";
  for (const bool numbers_first : {true, false}) {
    for (const auto& [name, value] : details.items()) {
      if (brief(value) != numbers_first || is_record_field(name)) continue;
      if (out.text.size() > 1) out.text += ',';
      append_member(out.text, name, value);
    }
    if (numbers_first) out.brief_end = static_cast<std::uint32_t>(out.text.size());
  }
  if (out.text.size() == 1) return {};
  out.text += '}';
  out.text.shrink_to_fit();
  return out;
}

void append_record(std::string& out, const Job& job, const RecordView& view) {
  const bool full = view.fields == RecordFields::full;
  const proto::JobState state = view.state.value_or(job.visible_state());
  out.reserve(out.size() + 320 + job.details.size() + (full ? job.params.size() + job.result.size() : 0));
  out += "{\"id\":";
  append_json_string(out, job.id);
  out += ",\"kind\":";
  append_json_string(out, job.kind->name);
  out += ",\"executor\":\"";
  out += proto::to_string(job.executor);
  out += "\",\"state\":\"";
  out += proto::to_string(state);
  out += '"';
  if (full) {
    out += ",\"params\":";
    out += job.params.empty() ? std::string_view("null") : std::string_view(job.params);
  }
  append_time(out, "created_at", job.created_at);
  if (job.timeout.count() > 0) append_number(out, "timeout_ms", job.timeout.count());
  append_number(out, "max_attempts", job.max_attempts);
  append_number(out, "attempt", job.attempt);
  if (job.run_at && state == proto::JobState::queued) append_time(out, "run_at", *job.run_at);
  if (auto started = job.visible_started_at()) append_time(out, "started_at", *started);
  if (job.finished_at) append_time(out, "finished_at", *job.finished_at);
  if (job.progress > 0.0 && !proto::is_final(job.state)) {
    out += ",\"progress\":";
    out += nlohmann::json(job.progress).dump();
  }
  if (full && job.state == proto::JobState::succeeded) {
    out += ",\"result\":";
    out += job.result.empty() ? std::string_view("null") : std::string_view(job.result);
  }
  if (job.error) {
    out += ",\"error\":{\"type\":";
    append_json_string(out, job.error->type);
    out += ",\"message\":";
    append_json_string(out, job.error->message);
    out += '}';
  }
  if (full && !job.attempts.empty()) {
    out += ",\"attempts\":";
    out += job.attempts;
  }
  if (job.idempotency_key) {
    out += ",\"idempotency_key\":";
    append_json_string(out, *job.idempotency_key);
  }
  // The executor fields' members, spliced without their braces: all of them, or for a summary
  // the numbers and booleans that come first.
  const std::size_t end = full ? job.details.size() - (job.details.empty() ? 0 : 1) : job.details_brief_end;
  if (!job.details.empty() && end > 1) {
    out += ',';
    out.append(job.details, 1, end - 1);
  }
  if (view.at) append_time(out, "at", *view.at);
  out += '}';
}

std::string render_record(const Job& job, const RecordView& view) {
  std::string out;
  append_record(out, job, view);
  return out;
}

}  // namespace jobd::jobs
