#include "jobd/proto/problem.hpp"

#include <nlohmann/json.hpp>

namespace jobd::proto {

std::string json_pointer_token(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string to_problem_json(const Problem& problem) {
  nlohmann::json body = {{"type", problem.kind.type},
                         {"title", problem.kind.title},
                         {"status", problem.kind.status},
                         {"detail", problem.detail}};
  if (problem.pointer) body["pointer"] = *problem.pointer;
  // Invalid UTF-8 from a client can end up in `detail`; replace it rather than throw.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace jobd::proto
