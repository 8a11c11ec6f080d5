// The command config's start-up checks against the file system (exec/subprocess/command_config.hpp):
// a program that is not a regular executable file and a workdir that is not an existing directory
// are refused naming the entry and the field. Through a fake probe: no file system needed.
#include <gtest/gtest.h>

#include <map>

#include "command_entries.hpp"

using namespace jobd::testing::commands;
using jobd::exec::check_command_paths;
using jobd::exec::PathKind;

namespace {

// A file system of a few paths; anything else is missing.
PathKind fake(const std::string& path) {
  static const std::map<std::string, PathKind> paths = {
      {"/usr/bin/tool", PathKind::executable_file}, {"/usr/bin", PathKind::directory},
      {"/etc/motd", PathKind::plain_file},          {"/dev/null", PathKind::other},
      {"/srv/data", PathKind::directory},
  };
  auto it = paths.find(path);
  return it == paths.end() ? PathKind::missing : it->second;
}

// The message checking a config of these entries throws ("" if none).
std::string paths_error(const std::vector<json>& entries) {
  try {
    check_command_paths(parse_command_config(json{{"commands", entries}}, no_env), fake);
  } catch (const CommandConfigError& e) {
    return e.what();
  }
  return "";
}

json entry(const std::string& name, const std::string& program, const std::string& workdir = "temp") {
  return {{"name", name}, {"program", program}, {"workdir", workdir}};
}

}  // namespace

TEST(CommandConfigPaths, AnExecutableProgramAndAnExistingWorkdirPass) {
  EXPECT_EQ(paths_error({entry("a", "/usr/bin/tool"), entry("b", "/usr/bin/tool", "/srv/data")}), "");
}

TEST(CommandConfigPaths, AProgramThatIsNotARegularExecutableFileIsRefusedNamingTheEntry) {
  EXPECT_EQ(paths_error({entry("ok", "/usr/bin/tool"), entry("dir", "/usr/bin")}),
            "commands[1] (dir): program: /usr/bin is a directory, not a program");
  EXPECT_EQ(
      paths_error({entry("text", "/etc/motd")}),
      "commands[0] (text): program: /etc/motd is not executable (no execute permission for jobd's user)");
  EXPECT_EQ(paths_error({entry("gone", "/opt/gone")}),
            "commands[0] (gone): program: /opt/gone does not exist");
  EXPECT_EQ(paths_error({entry("dev", "/dev/null")}),
            "commands[0] (dev): program: /dev/null is not a regular file jobd can look at");
}

TEST(CommandConfigPaths, AWorkdirThatIsNotAnExistingDirectoryIsRefused) {
  EXPECT_EQ(
      paths_error({entry("wd", "/usr/bin/tool", "/srv/missing")}),
      "commands[0] (wd): workdir: /srv/missing does not exist (jobd does not create it; use \"temp\" for "
      "a fresh one per job)");
  EXPECT_EQ(paths_error({entry("wd", "/usr/bin/tool", "/etc/motd")}),
            "commands[0] (wd): workdir: /etc/motd is not a directory");
}

TEST(CommandConfigPaths, TheRealProbeTellsFilesDirectoriesAndMissingPathsApart) {
  EXPECT_EQ(jobd::exec::probe_path("/bin/sh"), PathKind::executable_file);
  EXPECT_EQ(jobd::exec::probe_path("/usr"), PathKind::directory);
  EXPECT_EQ(jobd::exec::probe_path("/nonexistent-jobd-path"), PathKind::missing);
  EXPECT_EQ(jobd::exec::probe_path("/bin/sh/below-a-file"), PathKind::missing);
  EXPECT_EQ(jobd::exec::probe_path("/dev/null"), PathKind::other);
}

TEST(CommandConfigLimits, TheMinimumsThemselvesAreAccepted) {
  Kind kind = parse_one(entry_with("limits", {{"address_space_bytes", jobd::exec::kMinAddressSpaceBytes},
                                              {"open_files", jobd::exec::kMinOpenFiles},
                                              {"cpu_seconds", jobd::exec::kMinCpuSeconds}}));
  EXPECT_EQ(kind.command->limits.address_space_bytes, jobd::exec::kMinAddressSpaceBytes);
  EXPECT_EQ(kind.command->limits.open_files, jobd::exec::kMinOpenFiles);
}
