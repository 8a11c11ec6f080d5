// Every field of a command config entry, wrong in one way at a time: the error names the
// entry and the field (exec/subprocess/command_config), so a bad file is fixed at once.
#include <gtest/gtest.h>

#include <cctype>

#include "command_entries.hpp"

using namespace jobd::testing::commands;

// Each case: an entry that is wrong in one field, and the exact start of the message that
// must name it.
struct BadEntry {
  const char* what;
  json entry;
  std::string message;
};

class CommandConfigErrors : public ::testing::TestWithParam<BadEntry> {};

TEST_P(CommandConfigErrors, NameTheEntryAndTheField) {
  const std::string error = entry_error(GetParam().entry);
  EXPECT_EQ(error.substr(0, GetParam().message.size()), GetParam().message) << "full message: " << error;
}

namespace {
json entry_without(const char* key) {
  json entry = minimal_entry();
  entry.erase(key);
  return entry;
}
json param(json fields) {
  json p = {{"name", "p"}, {"type", "string"}, {"arg", {{"positional", true}}}};
  for (auto& [key, value] : fields.items()) {
    if (value.is_null()) {
      p.erase(key);
    } else {
      p[key] = value;
    }
  }
  return with_params(json::array({p}));  // not {p}: clang reads a one-element list as a copy
}
const std::string P = "commands[0] (tool): params[0] (p).";
}  // namespace

INSTANTIATE_TEST_SUITE_P(
    EveryField, CommandConfigErrors,
    ::testing::Values(
        BadEntry{"unknown field", entry_with("progam", "/x"), "commands[0] (tool): progam: unknown field"},
        BadEntry{"no name", entry_without("name"), "commands[0]: name: is required"},
        BadEntry{"name not a string", entry_with("name", 5), "commands[0]: name: must be a string"},
        BadEntry{"bad name", entry_with("name", "a b"), "commands[0] (a b): name: must be 1-128 characters"},
        BadEntry{"no program", entry_without("program"), "commands[0] (tool): program: is required"},
        BadEntry{"relative program", entry_with("program", "bin/wc"),
                 "commands[0] (tool): program: must be an absolute path"},
        BadEntry{"directory program", entry_with("program", "/usr/bin/"),
                 "commands[0] (tool): program: must be an absolute path"},
        BadEntry{"NUL in program", entry_with("program", std::string("/bin/x\0y", 8)),
                 "commands[0] (tool): program: must not contain a NUL"},
        BadEntry{"description", entry_with("description", false),
                 "commands[0] (tool): description: must be a string"},
        BadEntry{"args not array", entry_with("args", "-l"),
                 "commands[0] (tool): args: must be an array of strings"},
        BadEntry{"arg not string", entry_with("args", {1}), "commands[0] (tool): args[0]: must be a string"},
        BadEntry{"NUL in arg", entry_with("args", {std::string("a\0b", 3)}),
                 "commands[0] (tool): args[0]: must not contain a NUL"},
        BadEntry{"end_of_options", entry_with("end_of_options", "yes"),
                 "commands[0] (tool): end_of_options: must be true or false"},
        BadEntry{"stdin", entry_with("stdin", 1), "commands[0] (tool): stdin: must be true or false"},
        BadEntry{"max_input_bytes without stdin", entry_with("max_input_bytes", 10),
                 "commands[0] (tool): max_input_bytes: applies only with"},
        BadEntry{"negative max_input_bytes",
                 with_params(json::array(), {{"stdin", true}, {"max_input_bytes", -1}}),
                 "commands[0] (tool): max_input_bytes: must be a non-negative integer"},
        BadEntry{"env not object", entry_with("env", {"A=b"}), "commands[0] (tool): env: must be an object"},
        BadEntry{"env bad name", entry_with("env", {{"A-B", "x"}}),
                 "commands[0] (tool): env.A-B: must be a variable name"},
        BadEntry{"env value", entry_with("env", {{"A", 1}}), "commands[0] (tool): env.A: must be a string"},
        BadEntry{"pass_env bad name", entry_with("pass_env", {"1X"}),
                 "commands[0] (tool): pass_env[0]: must be a variable name"},
        BadEntry{"pass_env twice",
                 with_params(json::array(), {{"env", {{"TZ", "UTC"}}}, {"pass_env", {"TZ"}}}),
                 "commands[0] (tool): pass_env[0]: 'TZ' is given twice"},
        BadEntry{"workdir relative", entry_with("workdir", "data"),
                 "commands[0] (tool): workdir: must be \"temp\""},
        BadEntry{"timeout negative", entry_with("timeout_ms", -5),
                 "commands[0] (tool): timeout_ms: must be a non-negative integer"},
        BadEntry{"timeout fractional", entry_with("timeout_ms", 1.5),
                 "commands[0] (tool): timeout_ms: must be a non-negative integer"},
        BadEntry{"stdout cap", entry_with("max_stdout_bytes", "1m"),
                 "commands[0] (tool): max_stdout_bytes: must be a non-negative integer"},
        BadEntry{"stderr cap", entry_with("max_stderr_bytes", -1),
                 "commands[0] (tool): max_stderr_bytes: must be a non-negative integer"},
        BadEntry{"limits not object", entry_with("limits", 5),
                 "commands[0] (tool): limits: must be an object"},
        BadEntry{"unknown limit", entry_with("limits", {{"nproc", 5}}),
                 "commands[0] (tool): limits.nproc: unknown field"},
        BadEntry{"open_files too low", entry_with("limits", {{"open_files", 2}}),
                 "commands[0] (tool): limits.open_files: must be at least 16"},
        BadEntry{"open_files below what a script needs", entry_with("limits", {{"open_files", 8}}),
                 "commands[0] (tool): limits.open_files: must be at least 16"},
        BadEntry{"address space one byte", entry_with("limits", {{"address_space_bytes", 1}}),
                 "commands[0] (tool): limits.address_space_bytes: must be at least 16777216"},
        BadEntry{"address space too small to map libc",
                 entry_with("limits", {{"address_space_bytes", 1 << 20}}),
                 "commands[0] (tool): limits.address_space_bytes: must be at least 16777216"},
        BadEntry{"cpu zero", entry_with("limits", {{"cpu_seconds", 0}}),
                 "commands[0] (tool): limits.cpu_seconds: must be at least 1"},
        BadEntry{"address space", entry_with("limits", {{"address_space_bytes", "1g"}}),
                 "commands[0] (tool): limits.address_space_bytes: must be a non-negative integer"},
        BadEntry{"params not array", entry_with("params", json::object()),
                 "commands[0] (tool): params: must be an array"},
        BadEntry{"param not object", with_params({1}), "commands[0] (tool): params[0]: must be an object"},
        BadEntry{"param unknown field", param({{"requird", true}}), P + "requird: unknown field"},
        BadEntry{"param no name", param({{"name", nullptr}}),
                 "commands[0] (tool): params[0].name: is required"},
        BadEntry{"param bad name", param({{"name", "a-b"}}),
                 "commands[0] (tool): params[0] (a-b).name: must be an identifier"},
        BadEntry{"param reserved input", param({{"name", "input"}}),
                 "commands[0] (tool): params[0] (input).name: 'input' is reserved"},
        BadEntry{"param reserved input_base64", param({{"name", "input_base64"}}),
                 "commands[0] (tool): params[0] (input_base64).name: 'input_base64' is reserved"},
        BadEntry{"param no type", param({{"type", nullptr}}), P + "type: is required"},
        BadEntry{"param bad type", param({{"type", "float"}}),
                 P + "type: must be string, integer, number, boolean or enum"},
        BadEntry{"param required", param({{"required", "yes"}}), P + "required: must be true or false"},
        BadEntry{"minimum on string", param({{"minimum", 1}}),
                 P + "minimum: applies to integer and number params only"},
        BadEntry{"minimum not number", param({{"type", "integer"}, {"minimum", "1"}}),
                 P + "minimum: must be a number"},
        BadEntry{"minimum above maximum", param({{"type", "integer"}, {"minimum", 5}, {"maximum", 1}}),
                 P + "minimum: must not be greater than maximum"},
        BadEntry{"max_length on integer", param({{"type", "integer"}, {"max_length", 5}}),
                 P + "max_length: applies to string params only"},
        BadEntry{"max_length beyond argv", param({{"max_length", 200000}}),
                 P + "max_length: must be at most 131071"},
        BadEntry{"pattern on integer", param({{"type", "integer"}, {"pattern", "x"}}),
                 P + "pattern: applies to string params only"},
        BadEntry{"bad pattern", param({{"pattern", "("}}), P + "pattern: param 'p': bad pattern"},
        BadEntry{"choices on string", param({{"choices", {"a"}}}),
                 P + "choices: applies to enum params only"},
        BadEntry{"enum without choices", param({{"type", "enum"}}),
                 P + "choices: an enum needs at least one choice"},
        BadEntry{"choice not string", param({{"type", "enum"}, {"choices", {1}}}),
                 P + "choices[0]: must be a string"},
        BadEntry{"positional choice with dash", param({{"type", "enum"}, {"choices", {"a", "-x"}}}),
                 P + "choices: choice '-x' of a positional param starts with '-'"},
        BadEntry{"default with required", param({{"required", true}, {"default", "x"}}),
                 P + "default: a required param cannot have a default"},
        BadEntry{"default of wrong type", param({{"default", 5}}), P + "default: must be a string"},
        BadEntry{"default out of bounds", param({{"type", "integer"}, {"maximum", 3}, {"default", 5}}),
                 P + "default: must be <= 3"},
        BadEntry{"positional default with dash", param({{"default", "-rf"}}),
                 "commands[0] (tool): params[0].default: must not start with '-'"},
        BadEntry{"no arg", param({{"arg", nullptr}}), P + "arg: is required"},
        BadEntry{"arg not object", param({{"arg", "positional"}}), P + "arg: must be one of"},
        BadEntry{"arg with two ways", param({{"arg", {{"positional", true}, {"option", "--p"}}}}),
                 P + "arg: must be one of"},
        BadEntry{"arg unknown way", param({{"arg", {{"option_glued", "--p"}}}}),
                 P + "arg.option_glued: unknown field"},
        BadEntry{"positional false", param({{"arg", {{"positional", false}}}}),
                 P + "arg.positional: must be true"},
        BadEntry{"option without dashes", param({{"arg", {{"option", "output"}}}}),
                 P + "arg.option: must be a long option"},
        BadEntry{"option with value", param({{"arg", {{"option", "--output=/etc/passwd"}}}}),
                 P + "arg.option: must be a long option"},
        BadEntry{"option single-dash long", param({{"arg", {{"option", "-name"}}}}),
                 P + "arg.option: must be a long option"},
        BadEntry{"option bare dashes", param({{"arg", {{"option", "--"}}}}),
                 P + "arg.option: must be a long option"},
        BadEntry{"option with space", param({{"arg", {{"option", "--a b"}}}}),
                 P + "arg.option: must be a long option"},
        BadEntry{"flag empty", param({{"type", "boolean"}, {"arg", {{"flag", ""}}}}),
                 P + "arg.flag: must not be empty"},
        BadEntry{"flag on string", param({{"arg", {{"flag", "-r"}}}}),
                 P + "arg.flag: a flag needs a boolean param"},
        BadEntry{"param twice",
                 with_params({{{"name", "p"}, {"type", "string"}, {"arg", {{"positional", true}}}},
                              {{"name", "p"}, {"type", "string"}, {"arg", {{"positional", true}}}}}),
                 "commands[0] (tool): params[1] (p).name: 'p' is declared twice"}),
    [](const ::testing::TestParamInfo<BadEntry>& case_info) {
      std::string name;
      for (char c : std::string(case_info.param.what))
        name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });
