// echo {any}: returns its params. The cheapest possible job: measures jobd's own overhead.
#include "kinds/builtin.hpp"

namespace jobd::kinds {

Kind make_echo_kind() {
  Kind kind;
  kind.name = "echo";
  kind.description = "Returns its params as the result.";
  kind.params.free_form = true;
  kind.executors = {proto::Executor::loop};
  kind.cancellation = "immediate (finishes at once)";
  kind.run_inline = [](nlohmann::json params) { return Outcome::success(std::move(params)); };
  return kind;
}

}  // namespace jobd::kinds
