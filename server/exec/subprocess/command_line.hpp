// A subprocess job's command line and stdin, from its params: the argv rules the config
// declared (command_spec.hpp), checked at submission and applied at spawn. Pure: no process.
//
// Safety by construction (tested in tests/unit/command_line_test.cpp):
// - argv only, never a shell: `; rm -rf /` or `$(id)` in a value is one literal argument.
// - a param becomes an argument only the way the operator declared it: `--opt=VALUE` (glued,
//   so the value can never be read as another option), a positional argument, or a fixed flag
//   when a boolean is true. Undeclared params are refused (400) by the schema, so
//   `--output=/etc/passwd` cannot be added by a client.
// - a positional value that starts with '-' would read as an option: it is refused at
//   submission (400), unless the command sets "end_of_options": true, in which case jobd puts
//   `--` before the positional arguments and any value passes as an operand.
// - argument values may not contain NUL (a C string would silently end there).
//
// The job's input: a command with "stdin": true has two reserved params, `input` (text) and
// `input_base64` (bytes), at most one of them per job; its bytes are written to the child's
// stdin, then stdin is closed. Without "stdin", the child's stdin is /dev/null.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "exec/subprocess/command_spec.hpp"
#include "jobd/proto/params.hpp"

namespace jobd::exec {

// The rules above that the schema's per-field checks cannot express; the kind's
// ParamsSchema::check. Also applied to the operator's defaults when the config is parsed.
std::optional<proto::ParamError> check_command_params(const CommandSpec& command,
                                                      const nlohmann::json& params);

// argv of one job (argv[0] = the program), from params already validated against the kind's
// schema (defaults filled in).
std::vector<std::string> build_argv(const CommandSpec& command, const nlohmann::json& params);
// The bytes for the child's stdin (empty without input).
std::string build_stdin(const CommandSpec& command, const nlohmann::json& params);

}  // namespace jobd::exec
