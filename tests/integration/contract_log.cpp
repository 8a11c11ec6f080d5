#include "contract_log.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

namespace jobd::testing::contract {

namespace {

constexpr auto npos = std::string_view::npos;

struct SentRequest {
  std::string method;
  std::string target;
};

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The header fields of a head (the lines after the start line), names in lower case; a repeated
// field's values are joined with ", " as RFC 9110 §5.3 allows.
std::map<std::string, std::string> parse_fields(std::string_view head) {
  std::map<std::string, std::string> fields;
  const auto first_end = head.find("\r\n");
  head = first_end == npos ? std::string_view{} : head.substr(first_end + 2);
  while (!head.empty()) {
    const auto end = head.find("\r\n");
    const std::string_view line = head.substr(0, end);
    head = end == npos ? std::string_view{} : head.substr(end + 2);
    const auto colon = line.find(':');
    if (colon == npos) continue;
    auto& value = fields[lower(line.substr(0, colon))];
    value += (value.empty() ? "" : ", ") + std::string(trim(line.substr(colon + 1)));
  }
  return fields;
}

std::optional<std::size_t> parse_size(std::string_view text, int base) {
  if (text.empty() || text.size() > 15) return std::nullopt;
  std::size_t value = 0;
  for (char c : text) {
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (base == 16 && c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (base == 16 && c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (digit < 0) return std::nullopt;
    value = value * static_cast<std::size_t>(base) + static_cast<std::size_t>(digit);
  }
  return value;
}

// Bytes taken by a complete chunked body at the front of `data`; nullopt if it is incomplete or
// malformed.
std::optional<std::size_t> chunked_length(std::string_view data) {
  std::size_t pos = 0;
  for (;;) {
    const auto line_end = data.find("\r\n", pos);
    if (line_end == npos) return std::nullopt;
    const std::string_view line = data.substr(pos, line_end - pos);
    const auto size = parse_size(trim(line.substr(0, line.find(';'))), 16);
    if (!size) return std::nullopt;
    pos = line_end + 2;
    if (*size == 0) {
      const auto trailer_end = data.substr(pos, 2) == "\r\n" ? pos : data.find("\r\n\r\n", pos);
      if (trailer_end == npos) return std::nullopt;
      return trailer_end + (trailer_end == pos ? 2 : 4);
    }
    if (data.size() < pos + *size + 2 || data.substr(pos + *size, 2) != "\r\n") return std::nullopt;
    pos += *size + 2;
  }
}

// The requests at the front of `sent`, up to the first that is not well-formed HTTP/1.x or whose
// end cannot be told (an incomplete or malformed body; that request itself is kept).
std::vector<SentRequest> split_requests(std::string_view sent) {
  std::vector<SentRequest> requests;
  while (!sent.empty()) {
    const auto line_end = sent.find("\r\n");
    if (line_end == npos) break;
    const std::string_view line = sent.substr(0, line_end);
    const auto first_space = line.find(' ');
    const auto second_space = first_space == npos ? npos : line.find(' ', first_space + 1);
    if (first_space == 0 || second_space == npos || line.find(' ', second_space + 1) != npos ||
        !line.substr(second_space + 1).starts_with("HTTP/")) {
      break;
    }
    requests.push_back({std::string(line.substr(0, first_space)),
                        std::string(line.substr(first_space + 1, second_space - first_space - 1))});
    const auto head_end = sent.find("\r\n\r\n", line_end);
    if (head_end == npos) break;
    const auto fields = parse_fields(sent.substr(0, head_end + 2));
    std::string_view rest = sent.substr(head_end + 4);
    if (auto coding = fields.find("transfer-encoding"); coding != fields.end()) {
      if (!lower(coding->second).ends_with("chunked")) break;
      const auto length = chunked_length(rest);
      if (!length) break;
      rest.remove_prefix(*length);
    } else if (auto length_field = fields.find("content-length"); length_field != fields.end()) {
      const auto length = parse_size(length_field->second, 10);
      if (!length || rest.size() < *length) break;
      rest.remove_prefix(*length);
    }
    sent = rest;
  }
  return requests;
}

std::string current_test_name() {
  const auto* unit = ::testing::UnitTest::GetInstance();
  if (const auto* info = unit->current_test_info()) {
    return std::string(info->test_suite_name()) + "." + info->name();
  }
  if (const auto* suite = unit->current_test_suite()) return std::string(suite->name()) + ".(suite)";
  return "(outside a test)";
}

void append_line(const std::string& line) {
  static std::mutex mutex;  // tests with client threads record from several threads
  const std::lock_guard lock(mutex);
  const std::string dir = std::getenv("JOBD_CONTRACT_DIR");
  std::error_code ignored;  // the open below reports a directory that could not be made
  std::filesystem::create_directories(dir, ignored);
  const std::string path = dir + "/responses-" + std::to_string(::getpid()) + ".jsonl";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    // A record that cannot be written must not pass silently: the validator would see less.
    ADD_FAILURE() << "contract log: cannot open " << path;
    return;
  }
  std::size_t written = 0;
  while (written < line.size()) {
    const auto n = ::write(fd, line.data() + written, line.size() - written);
    if (n <= 0) {
      ADD_FAILURE() << "contract log: cannot write " << path;
      break;
    }
    written += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

}  // namespace

bool enabled() {
  const char* dir = std::getenv("JOBD_CONTRACT_DIR");
  return dir != nullptr && *dir != '\0';
}

void record_exchange(const std::string& sent, const std::string& received, bool closed) {
  if (!enabled() || received.empty()) return;
  const auto requests = split_requests(sent);
  std::size_t answered = 0;
  std::string_view data(received);
  while (!data.empty()) {
    const auto head_end = data.find("\r\n\r\n");
    if (head_end == npos || !data.starts_with("HTTP/1.") || head_end < 12) break;
    const auto status = parse_size(data.substr(9, 3), 10);
    if (!status) break;
    const auto fields = parse_fields(data.substr(0, head_end + 2));
    data.remove_prefix(head_end + 4);
    if (*status / 100 == 1) continue;  // 100 Continue: the final answer follows
    const SentRequest* request = answered < requests.size() ? &requests[answered] : nullptr;
    ++answered;
    std::string_view body;
    bool complete = true;
    if (request != nullptr && request->method == "HEAD") {
      // No body, whatever Content-Length announces.
    } else if (auto length_field = fields.find("content-length"); length_field != fields.end()) {
      const std::size_t length = parse_size(length_field->second, 10).value_or(0);
      complete = data.size() >= length;
      body = data.substr(0, length);
    } else {
      body = data;  // delimited by the close of the connection (an event stream)
      complete = closed;
    }
    data.remove_prefix(body.size());
    nlohmann::json record = {{"test", current_test_name()},
                             {"method", request ? nlohmann::json(request->method) : nlohmann::json()},
                             {"target", request ? nlohmann::json(request->target) : nlohmann::json()},
                             {"status", *status},
                             {"headers", fields},
                             {"body", std::string(body)},
                             {"complete", complete}};
    append_line(record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  }
}

}  // namespace jobd::testing::contract
