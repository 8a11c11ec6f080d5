#include "http/message.hpp"

#include <nlohmann/json.hpp>

namespace jobd::http {

std::string_view to_string(Method method) noexcept {
  static constexpr std::string_view kNames[] = {"GET",   "HEAD",   "POST",    "PUT",
                                                "PATCH", "DELETE", "OPTIONS", "OTHER"};
  return kNames[static_cast<int>(method)];
}

std::string_view Request::path() const {
  std::string_view view(target);
  return view.substr(0, view.find('?'));
}

std::string_view Request::query() const {
  std::string_view view(target);
  auto mark = view.find('?');
  return mark == std::string_view::npos ? std::string_view{} : view.substr(mark + 1);
}

Response Response::json(unsigned status, const nlohmann::json& body) {
  Response response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

Response Response::problem(const proto::Problem& problem) {
  Response response;
  response.status = problem.kind.status;
  response.content_type = "application/problem+json";
  response.body = proto::to_problem_json(problem);
  if (problem.retry_after_s)
    response.headers.emplace_back("Retry-After", std::to_string(*problem.retry_after_s));
  return response;
}

std::optional<std::string> percent_decode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex(text[i + 1]);
      const int low = hex(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (key != name) continue;
    if (eq == std::string_view::npos) return std::string{};
    // A malformed escape is passed on undecoded: the value check that follows refuses it.
    auto raw = pair.substr(eq + 1);
    return percent_decode(raw).value_or(std::string(raw));
  }
  return std::nullopt;
}

}  // namespace jobd::http
