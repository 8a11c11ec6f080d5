#include "output.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <set>

namespace jobd::jobctl {

namespace {

// Longest value text shown in a human block before it is cut (the --json output has it all).
constexpr std::size_t kMaxValueChars = 2000;
constexpr std::size_t kHistogramBarWidth = 40;

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string cut(std::string text) {
  if (text.size() > kMaxValueChars) {
    text.resize(kMaxValueChars);
    text += "... (cut; --json shows it all)";
  }
  return text;
}

// A JSON value as a user reads it: strings without quotes, the rest as compact JSON.
std::string plain(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string text_field(const nlohmann::json& record, const char* name) {
  if (!record.is_object() || !record.contains(name)) return "";
  return plain(record[name]);
}

// Milliseconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.fff]Z".
std::optional<double> parse_rfc3339_ms(const std::string& text) {
  std::tm parts{};
  int fraction_digits = 0;
  double fraction = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &parts.tm_year, &parts.tm_mon, &parts.tm_mday,
                  &parts.tm_hour, &parts.tm_min, &parts.tm_sec) != 6) {
    return std::nullopt;
  }
  parts.tm_year -= 1900;
  parts.tm_mon -= 1;
  const auto dot = text.find('.', 19);
  if (dot != std::string::npos) {
    double scale = 0.1;
    for (std::size_t i = dot + 1; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      fraction += (text[i] - '0') * scale;
      scale /= 10;
      ++fraction_digits;
    }
  }
  return static_cast<double>(timegm(&parts)) * 1000.0 + fraction * 1000.0;
}

void add_line(std::string& out, const std::string& name, const std::string& value) {
  constexpr std::size_t kNameWidth = 11;
  std::string label = name;
  if (label.size() < kNameWidth) label.resize(kNameWidth, ' ');
  // Multi-line values (subprocess output) continue under the value column.
  std::size_t start = 0;
  bool first = true;
  do {
    const auto end = value.find('\n', start);
    const std::string part = value.substr(start, end == std::string::npos ? std::string::npos : end - start);
    out += (first ? label : std::string(kNameWidth, ' ')) + " " + part + "\n";
    first = false;
    if (end == std::string::npos) break;
    start = end + 1;
  } while (start < value.size());
}

}  // namespace

std::string format_table(const Row& header, const std::vector<Row>& rows) {
  std::vector<std::size_t> widths(header.size(), 0);
  auto measure = [&](const Row& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  };
  measure(header);
  for (const auto& row : rows) measure(row);
  auto line = [&](const Row& row) {
    std::string text;
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      std::string cell = row[i];
      if (i + 1 < row.size()) cell.resize(widths[i] + 2, ' ');
      text += cell;
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text + "\n";
  };
  std::string out = line(header);
  for (const auto& row : rows) out += line(row);
  return out;
}

std::optional<double> elapsed_ms(const std::string& from, const std::string& to) {
  auto a = parse_rfc3339_ms(from);
  auto b = parse_rfc3339_ms(to);
  if (!a || !b) return std::nullopt;
  return *b - *a;
}

std::string format_ms(double ms) {
  if (ms < 1.0) return fixed(ms * 1000.0, 0) + " us";
  if (ms < 1000.0) return fixed(ms, ms < 10 ? 2 : 1) + " ms";
  return fixed(ms / 1000.0, 2) + " s";
}

std::string attempt_text(const nlohmann::json& record) {
  return plain(record.value("attempt", nlohmann::json(1))) + "/" +
         plain(record.value("max_attempts", nlohmann::json(1)));
}

std::string format_job(const nlohmann::json& record) {
  std::string out;
  if (!record.is_object()) return record.dump() + "\n";
  static const std::vector<std::string> kFirst = {
      "id", "kind", "executor", "state", "progress", "run_at", "created_at", "started_at", "finished_at"};
  std::set<std::string> shown;
  for (const auto& name : kFirst) {
    if (!record.contains(name)) continue;
    std::string label = name;
    if (label.ends_with("_at") && name != "run_at") label.resize(label.size() - 3);
    add_line(out, label, plain(record[name]));
    shown.insert(name);
    // Right after the state: which attempt, when the job may run more than once.
    if (name == "state" && record.value("max_attempts", 1) > 1) {
      add_line(out, "attempt", attempt_text(record));
    }
  }
  shown.insert({"attempt", "max_attempts"});
  if (record.contains("started_at") && record.contains("finished_at")) {
    if (auto ms = elapsed_ms(text_field(record, "started_at"), text_field(record, "finished_at"))) {
      add_line(out, "took", format_ms(*ms));
    }
  }
  if (record.contains("params")) add_line(out, "params", cut(record["params"].dump()));
  shown.insert("params");
  if (record.contains("result")) add_line(out, "result", cut(record["result"].dump()));
  shown.insert("result");
  if (record.contains("error") && record["error"].is_object()) {
    const auto& error = record["error"];
    add_line(out, "error", text_field(error, "type") + ": " + text_field(error, "message"));
    shown.insert("error");
  }
  // Earlier attempts' errors, one line each.
  if (record.contains("attempts") && record["attempts"].is_array()) {
    for (const auto& attempt : record["attempts"]) {
      if (!attempt.is_object()) continue;
      add_line(out, "attempt " + plain(attempt.value("attempt", nlohmann::json())),
               text_field(attempt, "type") + ": " + cut(text_field(attempt, "message")) + " (at " +
                   text_field(attempt, "finished_at") + ")");
    }
    shown.insert("attempts");
  }
  // Whatever else the record carries (subprocess exit_code, stdout, ...), in server order.
  for (const auto& [name, value] : record.items()) {
    if (shown.contains(name)) continue;
    add_line(out, name, cut(plain(value)));
  }
  return out;
}

Row job_row(const nlohmann::json& record) {
  std::string took = "-";
  if (record.contains("started_at") && record.contains("finished_at")) {
    if (auto ms = elapsed_ms(text_field(record, "started_at"), text_field(record, "finished_at")))
      took = format_ms(*ms);
  }
  return {text_field(record, "id"),    text_field(record, "kind"),       text_field(record, "executor"),
          text_field(record, "state"), text_field(record, "created_at"), took};
}

std::string format_job_list(const nlohmann::json& page) {
  std::vector<Row> rows;
  if (page.contains("jobs") && page["jobs"].is_array()) {
    for (const auto& job : page["jobs"]) rows.push_back(job_row(job));
  }
  std::string out = format_table({"ID", "KIND", "EXECUTOR", "STATE", "CREATED", "TOOK"}, rows);
  if (page.contains("next_cursor") && page["next_cursor"].is_string()) {
    out += "(more: --cursor " + page["next_cursor"].get<std::string>() + ", or --all)\n";
  }
  return out;
}

std::string format_kinds(const nlohmann::json& catalog) {
  std::vector<Row> rows;
  if (catalog.contains("kinds") && catalog["kinds"].is_array()) {
    for (const auto& kind : catalog["kinds"]) {
      std::string executors;
      if (kind.contains("executors") && kind["executors"].is_array()) {
        for (const auto& executor : kind["executors"]) {
          if (!executors.empty()) executors += ",";
          executors += plain(executor);
        }
      }
      rows.push_back({text_field(kind, "name"), executors, text_field(kind, "description")});
    }
  }
  return format_table({"NAME", "EXECUTORS", "DESCRIPTION"}, rows);
}

std::string format_event(const client::SseEvent& event) {
  auto label = [](std::string name) {
    name.resize(std::max<std::size_t>(name.size(), 9), ' ');
    return name;
  };
  const nlohmann::json data = nlohmann::json::parse(event.data, nullptr, false);
  if (event.type == "state" && data.is_object()) {
    const std::string state = text_field(data, "state");
    std::string text = label("state") + " " + state;
    if (data.value("max_attempts", 1) > 1) text += "  attempt " + attempt_text(data);
    if (state == "queued" && data.contains("run_at")) text += "  run_at " + text_field(data, "run_at");
    // Only a final state has an outcome worth a line; earlier records may already carry fields.
    if (!client::is_final_state(state)) return text;
    if (data.contains("error") && data["error"].is_object()) {
      text += "  " + text_field(data["error"], "type") + ": " + text_field(data["error"], "message");
    } else if (data.contains("result")) {
      text += "  result " + cut(data["result"].dump());
    }
    return text;
  }
  if (event.type == "progress" && data.is_object()) {
    std::string text = label("progress");
    if (data.contains("fraction") && data["fraction"].is_number()) {
      text += " " + fixed(data["fraction"].get<double>() * 100.0, 1) + "%";
    }
    const std::string note = text_field(data, "text");
    if (!note.empty()) text += "  " + note;
    return text;
  }
  if ((event.type == "stdout" || event.type == "stderr") && data.is_object() && data.contains("line")) {
    return label(event.type) + " " + text_field(data, "line");
  }
  return label(event.type) + " " + event.data;  // an event this jobctl does not know yet
}

std::string format_progress(const client::LoadSnapshot& s, std::uint64_t total_jobs) {
  const double seconds = std::chrono::duration<double>(s.elapsed).count();
  std::string text = fixed(seconds, 1) + "s  done " + std::to_string(s.finished);
  if (total_jobs > 0) text += "/" + std::to_string(total_jobs);
  text += "  ok " + std::to_string(s.succeeded) + "  not ok " + std::to_string(s.finished - s.succeeded);
  text += "  " + fixed(seconds > 0 ? static_cast<double>(s.finished) / seconds : 0.0, 0) + " jobs/s";
  text += "  p99 " + format_ms(static_cast<double>(s.p99_ns) / 1e6);
  text += "  in flight " + std::to_string(s.in_flight);
  return text;
}

std::string format_bench_report(const client::LoadReport& report, const std::string& title) {
  const auto& latency = report.latency;
  auto ms = [](std::uint64_t ns) { return format_ms(static_cast<double>(ns) / 1e6); };
  std::string out = title + "\n";
  out += "  elapsed      " + fixed(std::chrono::duration<double>(report.elapsed).count(), 2) + " s\n";
  out +=
      "  throughput   " + fixed(report.jobs_per_second(), 1) + " jobs/s (jobs that reached a final state)\n";
  out += "  submitted    " + std::to_string(report.submitted) + "  (accepted " +
         std::to_string(report.accepted) + ", connections opened " +
         std::to_string(report.connections_opened) + ")\n";
  out += "  succeeded    " + std::to_string(report.succeeded) + "\n";
  out += "  not ok       " + std::to_string(report.not_succeeded) + "\n";
  out += "\n  outcomes\n";
  std::vector<Row> rows;
  for (const auto& [outcome, count] : report.outcomes)
    rows.push_back({"    " + outcome, std::to_string(count)});
  out += format_table({"    OUTCOME", "JOBS"}, rows);
  if (latency.count() == 0) return out + "\n  latency      no job reached a final state\n";
  out += "\n  latency (submit to final state, " + std::to_string(latency.count()) + " jobs)\n";
  out += "    min    " + ms(latency.min_ns()) + "\n";
  out += "    p50    " + ms(latency.quantile_ns(0.50)) + "\n";
  out += "    p90    " + ms(latency.quantile_ns(0.90)) + "\n";
  out += "    p99    " + ms(latency.quantile_ns(0.99)) + "\n";
  out += "    p99.9  " + ms(latency.quantile_ns(0.999)) + "\n";
  out += "    max    " + ms(latency.max_ns()) + "\n";
  out += "\n  distribution\n";
  const auto octaves = latency.octaves();
  std::uint64_t peak = 1;
  for (const auto& range : octaves) peak = std::max(peak, range.count);
  std::vector<Row> bars;
  for (const auto& range : octaves) {
    const auto width = static_cast<std::size_t>(range.count * kHistogramBarWidth / peak);
    bars.push_back({"    " + ms(range.low_ns), "- " + ms(range.high_ns), std::to_string(range.count),
                    std::string(width == 0 && range.count > 0 ? 1 : width, '#')});
  }
  out += format_table({"    FROM", "TO", "JOBS", ""}, bars);
  return out;
}

}  // namespace jobd::jobctl
