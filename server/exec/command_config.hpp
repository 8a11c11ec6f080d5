// Command config: the operator's `--config FILE` (JSON) that names every external program jobd
// may run as a `subprocess` kind, and how a job's params become that program's argv.
//
// Owns: parsing and validating the file (a bad file stops jobd at start, with a message naming
// the entry and the field), the CommandSpec of each command kind, building argv, stdin and the
// environment of one job from its validated params. Pure code: no process, no socket, no file
// but the one read by load_command_config_file. The subprocess executor only runs what this
// module built.
//
// Safety by construction (tested in tests/unit/command_config_test.cpp):
// - argv only, never a shell: `; rm -rf /` or `$(id)` in a value is one literal argument.
// - a param becomes an argument only the way the operator declared it: `--opt=VALUE` (glued,
//   so the value can never be read as another option), a positional argument, or a fixed flag
//   when a boolean is true. Undeclared params are refused (400), so `--output=/etc/passwd`
//   cannot be added by a client.
// - a positional value that starts with '-' would read as an option: it is refused at
//   submission (400), unless the command sets "end_of_options": true, in which case jobd puts
//   `--` before the positional arguments and any value passes as an operand.
// - argument values may not contain NUL (a C string would silently end there).
//
// The job's input: a command with "stdin": true gets two reserved params, `input` (text) and
// `input_base64` (bytes), at most one of them per job; its bytes are written to the child's
// stdin, then stdin is closed. Without "stdin", the child's stdin is /dev/null.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "jobd/proto/params.hpp"
#include "kinds/kind.hpp"

namespace jobd::kinds {

// How one declared param travels to the program.
enum class ArgStyle {
  option,      // "--name=VALUE" for a long option, "-xVALUE" for a short one
  positional,  // VALUE as its own argument, after every option and flag
  flag,        // boolean: the fixed text (e.g. "-r") when true, nothing when false
};

struct ParamArg {
  std::string param;  // the declared param's name
  ArgStyle style = ArgStyle::positional;
  std::string option;  // option: "--name" or "-x"; flag: the argument added when true
};

// Resource limits of the child (setrlimit semantics; soft = hard). Unset = inherited from jobd.
struct CommandLimits {
  std::optional<std::uint64_t> cpu_seconds;          // RLIMIT_CPU: SIGXCPU, then SIGKILL
  std::optional<std::uint64_t> address_space_bytes;  // RLIMIT_AS
  std::optional<std::uint64_t> open_files;           // RLIMIT_NOFILE
  std::optional<std::uint64_t> file_size_bytes;      // RLIMIT_FSIZE: largest file it may write
  std::uint64_t core_bytes = 0;                      // RLIMIT_CORE: no core dumps by default
};

// A subprocess kind's program and argv rules (declared in kinds/kind.hpp).
struct CommandSpec {
  std::string program;               // absolute path; run as is, PATH is never searched
  std::vector<std::string> args;     // fixed arguments right after argv[0]
  std::vector<ParamArg> param_args;  // in declaration order
  bool end_of_options = false;       // put "--" before the positional arguments
  bool stdin_input = false;          // the job's input goes to stdin
  std::size_t max_input_bytes = 0;   // decoded input bytes a job may carry
  std::vector<std::string> env;      // the child's whole environment, "NAME=value"
  // Empty: a fresh directory under the system temp dir per job, removed after the job.
  // Otherwise an absolute directory the operator provides; nothing is removed.
  std::string workdir;
  std::chrono::milliseconds timeout{0};  // run-time limit from spawn; 0 = only the job's deadline
  std::size_t max_stdout_bytes = 0;
  std::size_t max_stderr_bytes = 0;
  CommandLimits limits;
};

}  // namespace jobd::kinds

namespace jobd::exec {

using kinds::CommandSpec;

// Reserved params of a command with "stdin": true.
inline constexpr std::string_view kInputParam = "input";
inline constexpr std::string_view kInputBase64Param = "input_base64";

// Defaults of a command entry (each one a field of the entry).
inline constexpr std::size_t kDefaultMaxStdoutBytes = 1 << 20;
inline constexpr std::size_t kDefaultMaxStderrBytes = 64 << 10;
inline constexpr std::size_t kDefaultMaxInputBytes = 1 << 20;
inline constexpr std::uint64_t kDefaultOpenFiles = 1024;
// The kernel refuses a single argv string longer than this (MAX_ARG_STRLEN).
inline constexpr std::size_t kMaxArgumentBytes = 128 * 1024 - 1;
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

// argv of one job (argv[0] = the program), from params already validated against the kind's
// schema (defaults filled in).
std::vector<std::string> build_argv(const CommandSpec& command, const nlohmann::json& params);
// The bytes for the child's stdin (empty without input).
std::string build_stdin(const CommandSpec& command, const nlohmann::json& params);

// Base64 (RFC 4648, padding required, no line breaks) as used by input_base64 and by
// stdout_base64/stderr_base64 in job records.
std::optional<std::string> decode_base64(std::string_view text);
std::string encode_base64(std::string_view bytes);

}  // namespace jobd::exec
