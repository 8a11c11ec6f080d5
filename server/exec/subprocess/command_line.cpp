#include "exec/subprocess/command_line.hpp"

#include "exec/subprocess/base64.hpp"

namespace jobd::exec {

using kinds::ArgStyle;
using kinds::ParamArg;
using nlohmann::json;

namespace {

// The text a param value becomes on the command line.
std::string argument_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_integer()) return value.dump();
  return value.dump();  // number: shortest round-trip form, e.g. 0.5 or 1e+21
}

std::optional<proto::ParamError> refuse(const std::string& name, std::string message) {
  return proto::ParamError{"/params/" + name, std::move(message)};
}

}  // namespace

std::optional<proto::ParamError> check_command_params(const CommandSpec& command, const json& params) {
  for (const ParamArg& arg : command.param_args) {
    auto it = params.find(arg.param);
    if (it == params.end()) continue;
    if (arg.style == ArgStyle::flag) continue;  // a fixed text: the value never reaches argv
    const std::string text = argument_text(*it);
    if (text.find('\0') != std::string::npos) return refuse(arg.param, "must not contain a NUL character");
    if (arg.style == ArgStyle::positional && !command.end_of_options && !text.empty() &&
        text.front() == '-') {
      return refuse(arg.param, "must not start with '-' (the program would read it as an option)");
    }
    if (arg.style == ArgStyle::option && arg.option.size() == 2 && text.empty()) {
      // "-x" alone would take the next argument as its value.
      return refuse(arg.param, "must not be empty");
    }
  }
  if (!command.stdin_input) return std::nullopt;
  const auto text = params.find(kInputParam);
  const auto encoded = params.find(kInputBase64Param);
  if (text != params.end() && encoded != params.end()) {
    return refuse(std::string(kInputBase64Param), "give either input or input_base64, not both");
  }
  if (encoded != params.end()) {
    auto bytes = decode_base64(encoded->get_ref<const std::string&>());
    if (!bytes) return refuse(std::string(kInputBase64Param), "must be base64 (RFC 4648, padded)");
    if (bytes->size() > command.max_input_bytes) {
      return refuse(std::string(kInputBase64Param),
                    "must decode to at most " + std::to_string(command.max_input_bytes) + " bytes");
    }
  }
  return std::nullopt;
}

std::vector<std::string> build_argv(const CommandSpec& command, const json& params) {
  std::vector<std::string> argv;
  argv.reserve(1 + command.args.size() + command.param_args.size() + 1);
  argv.push_back(command.program);
  argv.insert(argv.end(), command.args.begin(), command.args.end());
  for (const ParamArg& arg : command.param_args) {
    auto it = params.find(arg.param);
    if (it == params.end() || it->is_null()) continue;
    if (arg.style == ArgStyle::flag) {
      if (it->get<bool>()) argv.push_back(arg.option);
    } else if (arg.style == ArgStyle::option) {
      // Glued: the value is part of this argument, never an argument of its own.
      argv.push_back(arg.option + (arg.option.size() > 2 ? "=" : "") + argument_text(*it));
    }
  }
  if (command.end_of_options) argv.emplace_back("--");
  for (const ParamArg& arg : command.param_args) {
    if (arg.style != ArgStyle::positional) continue;
    if (auto it = params.find(arg.param); it != params.end() && !it->is_null()) {
      argv.push_back(argument_text(*it));
    }
  }
  return argv;
}

std::string build_stdin(const CommandSpec& command, const json& params) {
  if (!command.stdin_input) return {};
  if (auto it = params.find(kInputParam); it != params.end() && it->is_string())
    return it->get<std::string>();
  if (auto it = params.find(kInputBase64Param); it != params.end() && it->is_string()) {
    return decode_base64(it->get_ref<const std::string&>()).value_or(std::string());
  }
  return {};
}

}  // namespace jobd::exec
