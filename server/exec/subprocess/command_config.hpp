// Command config: the operator's `--config FILE` (JSON) that names every external program jobd
// may run as a `subprocess` kind, and how a job's params become that program's argv.
//
// Owns: parsing and validating the file (a bad file stops jobd at start, with a message naming
// the entry and the field) into one Kind with a CommandSpec per command, and registering those
// kinds. Pure code but for the one file load_command_config_file reads: no process, no socket.
// What the spec means for one job (argv, stdin) is exec/subprocess/command_line.hpp; the
// subprocess executor only runs what those two built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "exec/subprocess/command_spec.hpp"
#include "kinds/kind.hpp"

namespace jobd::exec {

// Defaults of a command entry (each one a field of the entry).
inline constexpr std::size_t kDefaultMaxStdoutBytes = 1 << 20;
inline constexpr std::size_t kDefaultMaxStderrBytes = 64 << 10;
inline constexpr std::size_t kDefaultMaxInputBytes = 1 << 20;
inline constexpr std::uint64_t kDefaultOpenFiles = 1024;
// The child's PATH when the entry sets none: a script's `gzip` must resolve, jobd's own PATH
// must not leak in.
inline constexpr std::string_view kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

// A bad config file: the message names the entry and the field, e.g.
// `commands[2] ("sort"): params[0] ("reverse"): arg: a flag needs a boolean param`.
class CommandConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads jobd's environment for "pass_env"; a parameter so that parsing stays pure.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Parses a config document into kinds (executors {subprocess}), ready for KindRegistry::add.
// Throws CommandConfigError.
std::vector<kinds::Kind> parse_command_config(const nlohmann::json& document, const EnvLookup& env);
// Same from text; a JSON syntax error is reported with its byte offset.
std::vector<kinds::Kind> parse_command_config_text(std::string_view text, const EnvLookup& env);
// Reads FILE (and jobd's environment for pass_env) and parses it. Throws CommandConfigError.
std::vector<kinds::Kind> load_command_config_file(const std::string& path);

// Adds the command kinds to the registry; a name taken by a built-in kind is a
// CommandConfigError naming the entry.
void register_command_kinds(kinds::KindRegistry& registry, std::vector<kinds::Kind> kinds);

}  // namespace jobd::exec
