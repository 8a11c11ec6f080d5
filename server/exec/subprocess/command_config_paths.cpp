// The command config's start-up checks against the file system (command_config.hpp): a program
// that is a directory, not executable or missing, and a workdir that does not exist, would fail
// every job of their kind at spawn time; they stop jobd at start instead, naming the entry and the
// field. Called once, before the loop runs; the file system is reached only through the probe.
#include <sys/stat.h>
#include <unistd.h>

#include "exec/subprocess/command_config.hpp"

namespace jobd::exec {

PathKind probe_path(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    return errno == ENOENT || errno == ENOTDIR ? PathKind::missing : PathKind::other;
  if (S_ISDIR(info.st_mode)) return PathKind::directory;
  if (!S_ISREG(info.st_mode)) return PathKind::other;
  // access(2) asks with jobd's real ids, which are the ids its children run as.
  return ::access(path.c_str(), X_OK) == 0 ? PathKind::executable_file : PathKind::plain_file;
}

namespace {

std::string where(std::size_t index, const kinds::Kind& kind, const char* field) {
  return "commands[" + std::to_string(index) + "] (" + kind.name + "): " + field + ": ";
}

}  // namespace

void check_command_paths(const std::vector<kinds::Kind>& kinds, const PathProbe& probe) {
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const kinds::Kind& kind = kinds[i];
    if (!kind.command) continue;
    const std::string& program = kind.command->program;
    switch (probe(program)) {
      case PathKind::executable_file: break;
      case PathKind::missing:
        throw CommandConfigError(where(i, kind, "program") + program + " does not exist");
      case PathKind::directory:
        throw CommandConfigError(where(i, kind, "program") + program + " is a directory, not a program");
      case PathKind::plain_file:
        throw CommandConfigError(where(i, kind, "program") + program +
                                 " is not executable (no execute permission for jobd's user)");
      case PathKind::other:
        throw CommandConfigError(where(i, kind, "program") + program +
                                 " is not a regular file jobd can look at");
    }
    const std::string& workdir = kind.command->workdir;  // empty: a fresh temp directory per job
    if (workdir.empty()) continue;
    switch (probe(workdir)) {
      case PathKind::directory: break;
      case PathKind::missing:
        throw CommandConfigError(
            where(i, kind, "workdir") + workdir +
            " does not exist (jobd does not create it; use \"temp\" for a fresh one per job)");
      default: throw CommandConfigError(where(i, kind, "workdir") + workdir + " is not a directory");
    }
  }
}

}  // namespace jobd::exec
