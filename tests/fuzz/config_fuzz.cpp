// libFuzzer target: the subprocess command config (--config FILE), from text to the argv, stdin
// and environment of a job. The input is a config document, optionally followed by a NUL byte
// and a job's params (JSON); with no NUL, every kind is tried with {}.
//
// Must never crash, hang or throw anything but CommandConfigError. For every kind it accepts,
// whatever params pass the kind's schema must become an argv that keeps the config's promises:
// argv[0] is the configured absolute program, the fixed args follow unchanged, no argument
// holds a NUL or exceeds the kernel's per-argument limit, and the environment is only
// NAME=value strings.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "exec/subprocess/command_config.hpp"
#include "exec/subprocess/command_line.hpp"

namespace {

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "config_fuzz finding: %s\n", what.c_str());
  std::abort();
}

std::optional<std::string> fake_environment(const std::string& name) {
  if (name == "HOME") return "/home/jobd";
  if (name == "LANG") return "C.UTF-8";
  return std::nullopt;
}

void check_job(const jobd::kinds::Kind& kind, const nlohmann::json& params) {
  auto validated = jobd::proto::validate_params(kind.params, params);
  const auto* accepted = std::get_if<nlohmann::json>(&validated);
  if (accepted == nullptr) return;  // refused with a 400: fine
  const auto& command = *kind.command;
  std::vector<std::string> argv;
  std::string input;
  try {
    argv = jobd::exec::build_argv(command, *accepted);
    input = jobd::exec::build_stdin(command, *accepted);
  } catch (const std::exception& e) {
    finding("params passed the schema but building the job threw: " + std::string(e.what()));
  }
  if (argv.empty() || argv[0] != command.program || !command.program.starts_with('/')) {
    finding("argv[0] is not the configured absolute program");
  }
  if (argv.size() < 1 + command.args.size()) finding("fixed args missing");
  for (std::size_t i = 0; i < command.args.size(); ++i) {
    if (argv[1 + i] != command.args[i]) finding("fixed arg " + std::to_string(i) + " changed");
  }
  for (const auto& argument : argv) {
    if (argument.find('\0') != std::string::npos) finding("an argument holds a NUL");
    if (argument.size() > jobd::exec::kMaxArgumentBytes) finding("an argument exceeds MAX_ARG_STRLEN");
  }
  if (!command.stdin_input && !input.empty()) finding("stdin bytes for a command without stdin");
  if (input.size() > command.max_input_bytes && command.stdin_input) finding("input beyond max_input_bytes");
  for (const auto& variable : command.env) {
    const auto equals = variable.find('=');
    if (equals == 0 || equals == std::string::npos || variable.find('\0') != std::string::npos) {
      finding("environment entry is not NAME=value: " + variable);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto split = input.find('\0');
  const std::string_view config = input.substr(0, split);
  std::vector<jobd::kinds::Kind> kinds;
  try {
    kinds = jobd::exec::parse_command_config_text(config, fake_environment);
  } catch (const jobd::exec::CommandConfigError&) {
    return 0;  // a clear refusal is the expected outcome for most inputs
  }
  nlohmann::json params = nlohmann::json::object();
  if (split != std::string_view::npos) {
    params = nlohmann::json::parse(input.substr(split + 1), nullptr, /*allow_exceptions=*/false);
    if (params.is_discarded()) return 0;
  }
  for (const auto& kind : kinds) {
    if (!kind.command) finding("a command kind without its command");
    check_job(kind, params);
  }
  return 0;
}
