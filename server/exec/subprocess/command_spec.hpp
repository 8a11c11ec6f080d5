// CommandSpec: what the operator's command config (exec/subprocess/command_config.hpp) says
// about one subprocess kind, once parsed and validated: the program, its fixed argv, how each
// declared param travels to it, its stdin, environment, working directory, limits and output
// caps. Plain data, immutable once registered (the kind registry holds it); read by the argv
// builder (command_line.hpp) and the launcher, on the loop and on spawner threads alike.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// The kernel refuses a single argv string longer than this (MAX_ARG_STRLEN).
inline constexpr std::size_t kMaxArgumentBytes = 128 * 1024 - 1;

}  // namespace jobd::exec
