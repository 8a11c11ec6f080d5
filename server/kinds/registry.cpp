#include <stdexcept>

#include "kinds/kind.hpp"

namespace jobd::kinds {

bool Kind::allows(proto::Executor executor) const {
  for (auto allowed : executors) {
    if (allowed == executor) return true;
  }
  return false;
}

void KindRegistry::add(Kind kind) {
  if (find(kind.name) != nullptr) throw std::invalid_argument("duplicate kind '" + kind.name + "'");
  if (kind.executors.empty()) throw std::invalid_argument("kind '" + kind.name + "' has no executor");
  for (auto executor : kind.executors) {
    bool runnable =
        (executor == proto::Executor::loop && (kind.run_on_loop || kind.run_inline)) ||
        ((executor == proto::Executor::thread || executor == proto::Executor::process) && kind.run_on_cpu) ||
        (executor == proto::Executor::subprocess && kind.command);
    if (!runnable) {
      throw std::invalid_argument("kind '" + kind.name + "' lists executor '" +
                                  std::string(proto::to_string(executor)) + "' without code for it");
    }
  }
  proto::compile(kind.params);
  kinds_.push_back(std::make_unique<Kind>(std::move(kind)));
}

const Kind* KindRegistry::find(std::string_view name) const {
  for (const auto& kind : kinds_) {
    if (kind->name == name) return kind.get();
  }
  return nullptr;
}

nlohmann::json KindRegistry::describe(const Kind& kind) {
  nlohmann::json executors = nlohmann::json::array();
  for (auto executor : kind.executors) executors.push_back(proto::to_string(executor));
  return {{"name", kind.name},
          {"description", kind.description},
          {"executors", std::move(executors)},
          {"default_executor", proto::to_string(kind.default_executor())},
          {"cancellation", kind.cancellation},
          {"params", proto::to_json_schema(kind.params)}};
}

}  // namespace jobd::kinds
