// Command config: the operator's `--config FILE` (JSON) that names every external program jobd
// may run as a `subprocess` kind, and how a job's params become that program's argv.
//
// Owns: parsing and validating the file (a bad file stops jobd at start, with a message naming
// the entry and the field) into one Kind with a CommandSpec per command, and registering those
// kinds. Pure code but for load_command_config_file, which reads the file and asks the file
// system about each program and workdir (command_config_paths.cpp): no process, no socket.
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

// Smallest resource limits an entry may set: below them no program starts at all, so every job
// of the kind would fail. Measured on Debian 12 with prlimit: /bin/true and a /bin/sh script
// start under 4 MiB of address space but not 1 MiB (the loader cannot map libc); a dynamically
// linked program needs 4 open files (stdin, stdout, stderr and one to open its libraries), a
// /bin/sh script 12 (dash moves the script to fd 10, a pipe takes two more); a CPU limit of 0
// would kill the child before its first instruction.
inline constexpr std::uint64_t kMinAddressSpaceBytes = std::uint64_t{16} << 20;
inline constexpr std::uint64_t kMinOpenFiles = 16;
inline constexpr std::uint64_t kMinCpuSeconds = 1;

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
// What the file system says about a path, for the start-up checks below.
enum class PathKind {
  missing,          // nothing there (or a dangling link)
  directory,        // a directory (searchable or not)
  executable_file,  // a regular file jobd may execute
  plain_file,       // a regular file without execute permission for jobd
  other,            // a device, socket, FIFO, or a path jobd cannot look at
};
// Answers for one absolute path; a parameter so that the checks are unit-tested without a file
// system and the parser stays pure (tests/fuzz/config_fuzz never reaches the file system).
using PathProbe = std::function<PathKind(const std::string& path)>;
// stat(2) and access(2) on the real file system.
PathKind probe_path(const std::string& path);

// The checks a parsed config cannot make alone, run once at start: each entry's program must be a
// regular file jobd may execute, and an absolute workdir an existing directory. `kinds` is what
// parse_command_config returned, in the file's order. Throws CommandConfigError naming the entry
// and the field.
void check_command_paths(const std::vector<kinds::Kind>& kinds, const PathProbe& probe);

// Reads FILE (and jobd's environment for pass_env), parses it and checks its paths with
// probe_path. Throws CommandConfigError.
std::vector<kinds::Kind> load_command_config_file(const std::string& path);

// Adds the command kinds to the registry; a name taken by a built-in kind is a
// CommandConfigError naming the entry.
void register_command_kinds(kinds::KindRegistry& registry, std::vector<kinds::Kind> kinds);

}  // namespace jobd::exec
