// The subprocess command config (exec/subprocess/command_config): a full entry becomes a
// subprocess kind, the defaults are safe, the environment holds only what the entry names,
// duplicate names are refused, and the shipped example config is valid. Each field's error
// message is command_config_errors_test's; argv and stdin are command_line_test's.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "command_entries.hpp"
#include "exec/subprocess/command_config.hpp"
#include "kinds/kind.hpp"
#include "kinds/testing/test_kinds.hpp"

using namespace jobd::exec;
using namespace jobd::testing::commands;

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

TEST(CommandConfigExample, TheShippedConfigIsValid) {
  // docker/commands.json is baked into the image; a mistake there must fail here, not at start.
  const auto root = std::filesystem::path(JOBD_SOURCE_DIR);
  const std::string path = (root / "docker" / "commands.json").string();
  std::vector<Kind> kinds;
  ASSERT_NO_THROW(kinds = load_command_config_file(path));
  std::vector<std::string> names;
  names.reserve(kinds.size());
  for (const auto& kind : kinds) names.push_back(kind.name);
  for (const char* expected : {"wc", "sha256sum", "sort", "true"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  jobd::kinds::KindRegistry registry;
  jobd::kinds::register_builtin_kinds(registry);
  jobd::kinds::testing::register_test_kinds(registry);
  EXPECT_NO_THROW(register_command_kinds(registry, std::move(kinds)));
}
