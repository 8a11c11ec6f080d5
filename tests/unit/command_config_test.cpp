// The subprocess command config (exec/command_config): every validation error names the entry
// and the field; argv building keeps every client value one literal argument and never lets
// it become an option; the job's input travels to stdin as text or base64.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "exec/command_config.hpp"
#include "kinds/kind.hpp"
#include "kinds/testing/test_kinds.hpp"

using namespace jobd::exec;
using jobd::kinds::Kind;
using nlohmann::json;

namespace {

std::optional<std::string> no_env(const std::string&) { return std::nullopt; }

json minimal_entry() { return {{"name", "tool"}, {"program", "/usr/bin/tool"}}; }

json with_params(json params, json extra = json::object()) {
  json entry = minimal_entry();
  entry["params"] = std::move(params);
  for (auto& [key, value] : extra.items()) entry[key] = value;
  return entry;
}

Kind parse_one(const json& entry, const EnvLookup& env = no_env) {
  auto kinds = parse_command_config(json{{"commands", json::array({entry})}}, env);
  EXPECT_EQ(kinds.size(), 1u);
  return std::move(kinds.front());
}

// The message of the CommandConfigError that parsing `document` throws ("" if none).
std::string config_error(const json& document) {
  try {
    parse_command_config(document, no_env);
  } catch (const CommandConfigError& e) {
    return e.what();
  }
  return "";
}
std::string entry_error(const json& entry) { return config_error({{"commands", json::array({entry})}}); }

// Validates `params` the way the scheduler does, then builds argv.
std::variant<std::vector<std::string>, jobd::proto::ParamError> argv_for(const Kind& kind,
                                                                         const json& params) {
  auto validated = jobd::proto::validate_params(kind.params, params);
  if (auto* error = std::get_if<jobd::proto::ParamError>(&validated)) return *error;
  return build_argv(*kind.command, std::get<json>(validated));
}
std::vector<std::string> argv_ok(const Kind& kind, const json& params) {
  auto result = argv_for(kind, params);
  if (auto* error = std::get_if<jobd::proto::ParamError>(&result)) {
    ADD_FAILURE() << "refused: " << error->pointer << " " << error->message;
    return {};
  }
  return std::get<std::vector<std::string>>(result);
}
std::string refused_pointer(const Kind& kind, const json& params) {
  auto result = argv_for(kind, params);
  auto* error = std::get_if<jobd::proto::ParamError>(&result);
  return error ? error->pointer : "(accepted)";
}

using Strings = std::vector<std::string>;

}  // namespace

TEST(CommandConfig, AFullEntryBecomesASubprocessKind) {
  json entry = {
      {"name", "sort"},
      {"description", "Sorts lines."},
      {"program", "/usr/bin/sort"},
      {"args", {"-s"}},
      {"stdin", true},
      {"max_input_bytes", 100},
      {"timeout_ms", 5000},
      {"max_stdout_bytes", 1000},
      {"max_stderr_bytes", 10},
      {"workdir", "temp"},
      {"env", {{"LC_ALL", "C"}}},
      {"limits", {{"cpu_seconds", 5}, {"address_space_bytes", 1 << 30}, {"open_files", 64}}},
      {"params",
       {{{"name", "reverse"}, {"type", "boolean"}, {"default", false}, {"arg", {{"flag", "-r"}}}}}}};
  Kind kind = parse_one(entry);
  EXPECT_EQ(kind.name, "sort");
  EXPECT_EQ(kind.description, "Sorts lines.");
  ASSERT_EQ(kind.executors.size(), 1u);
  EXPECT_EQ(kind.executors.front(), jobd::proto::Executor::subprocess);
  ASSERT_TRUE(kind.command);
  const auto& command = *kind.command;
  EXPECT_EQ(command.program, "/usr/bin/sort");
  EXPECT_EQ(command.args, Strings{"-s"});
  EXPECT_TRUE(command.stdin_input);
  EXPECT_EQ(command.max_input_bytes, 100u);
  EXPECT_EQ(command.timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(command.max_stdout_bytes, 1000u);
  EXPECT_EQ(command.max_stderr_bytes, 10u);
  EXPECT_TRUE(command.workdir.empty());  // temp
  EXPECT_EQ(command.limits.cpu_seconds, 5u);
  EXPECT_EQ(command.limits.open_files, 64u);
  EXPECT_EQ(command.limits.core_bytes, 0u);
  // Declared params plus the two reserved input params, all in the catalog's schema.
  const json schema = jobd::proto::to_json_schema(kind.params);
  EXPECT_TRUE(schema["properties"].contains("reverse"));
  EXPECT_EQ(schema["properties"]["input"]["maxLength"], 100);
  EXPECT_TRUE(schema["properties"].contains("input_base64"));
  EXPECT_FALSE(schema.contains("required"));
  // Registered like a built-in kind.
  jobd::kinds::KindRegistry registry;
  register_command_kinds(registry, {std::move(kind)});
  ASSERT_NE(registry.find("sort"), nullptr);
  EXPECT_EQ(jobd::kinds::KindRegistry::describe(*registry.find("sort"))["executors"],
            json::array({"subprocess"}));
}

TEST(CommandConfig, DefaultsAreSafe) {
  Kind kind = parse_one(minimal_entry());
  const auto& command = *kind.command;
  EXPECT_TRUE(command.args.empty());
  EXPECT_FALSE(command.stdin_input);
  EXPECT_FALSE(command.end_of_options);
  EXPECT_TRUE(command.workdir.empty());
  EXPECT_EQ(command.max_stdout_bytes, kDefaultMaxStdoutBytes);
  EXPECT_EQ(command.max_stderr_bytes, kDefaultMaxStderrBytes);
  EXPECT_EQ(command.limits.open_files, kDefaultOpenFiles);
  EXPECT_EQ(command.limits.core_bytes, 0u);
  EXPECT_EQ(command.env, Strings{"PATH=" + std::string(kDefaultPath)});
  EXPECT_FALSE(kind.description.empty());
  // No stdin: no input params, and an input is refused as unknown.
  EXPECT_EQ(refused_pointer(kind, {{"input", "x"}}), "/params/input");
}

TEST(CommandConfig, TopLevelErrors) {
  EXPECT_NE(config_error(json::array()).find("must be an object"), std::string::npos);
  EXPECT_NE(config_error({{"commands", json::array()}, {"comands", 1}}).find("comands: unknown field"),
            std::string::npos);
  EXPECT_NE(config_error(json::object()).find("commands: must be an array"), std::string::npos);
  EXPECT_NE(config_error({{"commands", "wc"}}).find("commands: must be an array"), std::string::npos);
  EXPECT_NE(config_error({{"commands", {1}}}).find("commands[0]: must be an object"), std::string::npos);
  EXPECT_EQ(config_error({{"commands", json::array()}}), "");  // no commands is fine
  try {
    parse_command_config_text("{\"commands\": [", no_env);
    ADD_FAILURE() << "bad JSON accepted";
  } catch (const CommandConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos);
  }
  // Valid syntax with a number no double holds is a config error too, not a stray exception
  // (found by tests/fuzz/config_fuzz).
  EXPECT_THROW(parse_command_config_text(R"({"commands": [], "timeout": 5e22222})", no_env),
               CommandConfigError);
}

TEST(CommandConfig, DuplicateNamesAreRefused) {
  json second = minimal_entry();
  EXPECT_EQ(config_error({{"commands", {minimal_entry(), second}}}),
            "commands[1] (tool): name: another command has this name");
  // A name that a built-in kind has.
  jobd::kinds::KindRegistry registry;
  jobd::kinds::register_builtin_kinds(registry);
  json sleep = {{"name", "sleep"}, {"program", "/bin/sleep"}};
  try {
    register_command_kinds(registry, parse_command_config(json{{"commands", {sleep}}}, no_env));
    ADD_FAILURE() << "a command named like a built-in kind was accepted";
  } catch (const CommandConfigError& e) {
    EXPECT_STREQ(e.what(), "commands[0] (sleep): name: a built-in kind has this name");
  }
}

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
json entry_with(const char* key, json value) {
  json entry = minimal_entry();
  entry[key] = std::move(value);
  return entry;
}
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
                 "commands[0] (tool): limits.open_files: must be at least 3"},
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

TEST(CommandConfigArgv, FixedArgsThenOptionsAndFlagsThenPositionals) {
  Kind kind = parse_one(with_params(
      {{{"name", "file"}, {"type", "string"}, {"required", true}, {"arg", {{"positional", true}}}},
       {{"name", "lines"}, {"type", "integer"}, {"minimum", 1}, {"arg", {{"option", "--lines"}}}},
       {{"name", "count"}, {"type", "integer"}, {"arg", {{"option", "-n"}}}},
       {{"name", "ratio"}, {"type", "number"}, {"arg", {{"option", "--ratio"}}}},
       {{"name", "reverse"}, {"type", "boolean"}, {"arg", {{"flag", "-r"}}}},
       {{"name", "quiet"}, {"type", "boolean"}, {"default", true}, {"arg", {{"flag", "--quiet"}}}},
       {{"name", "mode"},
        {"type", "enum"},
        {"choices", {"fast", "slow"}},
        {"default", "fast"},
        {"arg", {{"option", "--mode"}}}}},
      {{"args", {"--fixed", "x"}}}));
  EXPECT_EQ(argv_ok(kind, {{"file", "a.txt"}}),
            (Strings{"/usr/bin/tool", "--fixed", "x", "--quiet", "--mode=fast", "a.txt"}));
  EXPECT_EQ(argv_ok(kind, {{"file", "a.txt"},
                           {"lines", 5},
                           {"count", 7},
                           {"ratio", 0.5},
                           {"reverse", true},
                           {"quiet", false},
                           {"mode", "slow"}}),
            (Strings{"/usr/bin/tool", "--fixed", "x", "--lines=5", "-n7", "--ratio=0.5", "-r", "--mode=slow",
                     "a.txt"}));
}

TEST(CommandConfigArgv, ShellSyntaxIsOneLiteralArgument) {
  Kind kind =
      parse_one(with_params({{{"name", "text"}, {"type", "string"}, {"arg", {{"positional", true}}}},
                             {{"name", "name"}, {"type", "string"}, {"arg", {{"option", "--name"}}}}}));
  for (std::string attack :
       {"; rm -rf /", "$(id)", "`id`", "a && touch /tmp/pwned", "x | sh", "*", "\"'\\", "a\nb"}) {
    EXPECT_EQ(argv_ok(kind, {{"text", attack}}), (Strings{"/usr/bin/tool", attack})) << attack;
    EXPECT_EQ(argv_ok(kind, {{"name", attack}}), (Strings{"/usr/bin/tool", "--name=" + attack})) << attack;
  }
}

TEST(CommandConfigArgv, AValueCannotBecomeAnOption) {
  Kind kind = parse_one(with_params({{{"name", "text"}, {"type", "string"}, {"arg", {{"positional", true}}}},
                                     {{"name", "n"}, {"type", "integer"}, {"arg", {{"positional", true}}}},
                                     {{"name", "x"}, {"type", "number"}, {"arg", {{"positional", true}}}},
                                     {{"name", "name"}, {"type", "string"}, {"arg", {{"option", "--name"}}}},
                                     {{"name", "k"}, {"type", "string"}, {"arg", {{"option", "-k"}}}}}));
  // A positional value that starts with '-' is refused at submission.
  EXPECT_EQ(refused_pointer(kind, {{"text", "-rf"}}), "/params/text");
  EXPECT_EQ(refused_pointer(kind, {{"text", "--output=/etc/passwd"}}), "/params/text");
  EXPECT_EQ(refused_pointer(kind, {{"text", "-"}}), "/params/text");
  EXPECT_EQ(refused_pointer(kind, {{"n", -5}}), "/params/n");
  EXPECT_EQ(refused_pointer(kind, {{"x", -0.5}}), "/params/x");
  // An option that is not declared cannot be asked for: unknown params are refused.
  EXPECT_EQ(refused_pointer(kind, {{"output", "/etc/passwd"}}), "/params/output");
  // An option's value is glued to it, so it stays that option's value whatever it holds.
  EXPECT_EQ(argv_ok(kind, {{"name", "-rf"}}), (Strings{"/usr/bin/tool", "--name=-rf"}));
  EXPECT_EQ(argv_ok(kind, {{"name", "--output=/etc/passwd"}}),
            (Strings{"/usr/bin/tool", "--name=--output=/etc/passwd"}));
  EXPECT_EQ(argv_ok(kind, {{"k", "-1"}}), (Strings{"/usr/bin/tool", "-k-1"}));
  // "-k" alone would take the next argument as its value.
  EXPECT_EQ(refused_pointer(kind, {{"k", ""}}), "/params/k");
  EXPECT_EQ(argv_ok(kind, {{"name", ""}}), (Strings{"/usr/bin/tool", "--name="}));
  // A C string would end at NUL: refused rather than cut.
  EXPECT_EQ(refused_pointer(kind, {{"text", std::string("a\0b", 3)}}), "/params/text");
  EXPECT_EQ(refused_pointer(kind, {{"name", std::string("a\0b", 3)}}), "/params/name");
  // Values that only contain a dash later are fine.
  EXPECT_EQ(argv_ok(kind, {{"text", "a-b"}, {"n", 3}}), (Strings{"/usr/bin/tool", "a-b", "3"}));
}

TEST(CommandConfigArgv, EndOfOptionsLetsDashValuesThroughAsOperands) {
  Kind kind = parse_one(with_params({{{"name", "text"}, {"type", "string"}, {"arg", {{"positional", true}}}},
                                     {{"name", "v"}, {"type", "boolean"}, {"arg", {{"flag", "-v"}}}}},
                                    {{"end_of_options", true}}));
  EXPECT_EQ(argv_ok(kind, {{"text", "-rf"}, {"v", true}}), (Strings{"/usr/bin/tool", "-v", "--", "-rf"}));
  EXPECT_EQ(argv_ok(kind, json::object()), (Strings{"/usr/bin/tool", "--"}));
}

TEST(CommandConfigInput, TextOrBase64ToStdin) {
  Kind kind = parse_one(with_params(json::array(), {{"stdin", true}, {"max_input_bytes", 5}}));
  auto stdin_of = [&](const json& params) {
    auto validated = jobd::proto::validate_params(kind.params, params);
    EXPECT_TRUE(std::holds_alternative<json>(validated));
    return std::holds_alternative<json>(validated) ? build_stdin(*kind.command, std::get<json>(validated))
                                                   : "";
  };
  EXPECT_EQ(stdin_of({{"input", "hello"}}), "hello");
  EXPECT_EQ(stdin_of({{"input_base64", "AAEC/w=="}}), std::string("\x00\x01\x02\xff", 4));
  EXPECT_EQ(stdin_of(json::object()), "");
  // The input never reaches argv.
  EXPECT_EQ(argv_ok(kind, {{"input", "-rf"}}), Strings{"/usr/bin/tool"});
  EXPECT_EQ(refused_pointer(kind, {{"input", "123456"}}), "/params/input");                  // too long
  EXPECT_EQ(refused_pointer(kind, {{"input_base64", "MTIzNDU2"}}), "/params/input_base64");  // 6 bytes
  EXPECT_EQ(refused_pointer(kind, {{"input_base64", "not base64!"}}), "/params/input_base64");
  EXPECT_EQ(refused_pointer(kind, {{"input", "a"}, {"input_base64", "YQ=="}}), "/params/input_base64");
}

TEST(CommandConfigEnv, OnlyWhatTheEntryNamesIsPassed) {
  auto lookup = [](const std::string& name) -> std::optional<std::string> {
    if (name == "TZ") return "Europe/Paris";
    return std::nullopt;
  };
  Kind kind = parse_one(
      with_params(json::array(), {{"env", {{"LC_ALL", "C"}}}, {"pass_env", {"TZ", "NOT_SET"}}}), lookup);
  EXPECT_EQ(kind.command->env, (Strings{"PATH=" + std::string(kDefaultPath), "LC_ALL=C", "TZ=Europe/Paris"}));
  Kind own_path = parse_one(entry_with("env", {{"PATH", "/opt/bin"}}));
  EXPECT_EQ(own_path.command->env, Strings{"PATH=/opt/bin"});
}

TEST(CommandConfigWorkdir, AFixedDirectoryIsKept) {
  Kind kind = parse_one(entry_with("workdir", "/srv/data"));
  EXPECT_EQ(kind.command->workdir, "/srv/data");
}

TEST(Base64, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    const std::string encoded = encode_base64(bytes);
    EXPECT_EQ(encoded.size() % 4, 0u);
    EXPECT_EQ(decode_base64(encoded), bytes);
    bytes.push_back(static_cast<char>(i * 37));
  }
  EXPECT_EQ(encode_base64("hello"), "aGVsbG8=");
  EXPECT_FALSE(decode_base64("aGVsbG8"));     // no padding
  EXPECT_FALSE(decode_base64("aG=sbG8="));    // data after padding
  EXPECT_FALSE(decode_base64("aGVs\nbG8="));  // line break
}

TEST(CommandConfigExample, TheShippedConfigIsValid) {
  // docker/commands.json is baked into the image; a mistake there must fail here, not at start.
  const auto root = std::filesystem::path(JOBD_SOURCE_DIR);
  const std::string path = (root / "docker" / "commands.json").string();
  std::vector<Kind> kinds;
  ASSERT_NO_THROW(kinds = load_command_config_file(path));
  std::vector<std::string> names;
  for (const auto& kind : kinds) names.push_back(kind.name);
  for (const char* expected : {"wc", "sha256sum", "sort", "true"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  jobd::kinds::KindRegistry registry;
  jobd::kinds::register_builtin_kinds(registry);
  jobd::kinds::testing::register_test_kinds(registry);
  EXPECT_NO_THROW(register_command_kinds(registry, std::move(kinds)));
}
