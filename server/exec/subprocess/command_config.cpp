#include "exec/subprocess/command_config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "exec/subprocess/command_line.hpp"
#include "exec/subprocess/config_fields.hpp"

namespace jobd::exec {

using fields::bool_field;
using fields::count_field;
using fields::has_nul;
using fields::is_identifier;
using fields::member;
using fields::number_field;
using fields::refuse_unknown_fields;
using fields::string_field;
using fields::string_list;
using fields::Where;
using kinds::ArgStyle;
using kinds::CommandLimits;
using kinds::ParamArg;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxKindNameBytes = 128;

bool is_kind_name(std::string_view text) {
  if (text.empty() || text.size() > kMaxKindNameBytes) return false;
  if (!std::isalnum(static_cast<unsigned char>(text.front()))) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

// "--long-name" (then "--long-name=VALUE") or "-x" (then "-xVALUE").
bool is_option_name(std::string_view text) {
  auto word_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  };
  if (text.size() == 2 && text[0] == '-') return std::isalnum(static_cast<unsigned char>(text[1]));
  return text.size() > 2 && text.substr(0, 2) == "--" && std::isalnum(static_cast<unsigned char>(text[2])) &&
         std::all_of(text.begin() + 2, text.end(), word_char);
}

proto::ParamSpec parse_param(const json& entry, const Where& where, ParamArg& arg) {
  if (!entry.is_object()) where.fail("must be an object");
  refuse_unknown_fields(entry, where,
                        {"name", "type", "description", "required", "default", "minimum", "maximum",
                         "max_length", "pattern", "choices", "arg"});
  proto::ParamSpec spec;
  spec.name = string_field(entry, "name", where, true);
  if (!is_identifier(spec.name)) where.at("name").fail("must be an identifier ([A-Za-z_][A-Za-z0-9_]*)");
  if (spec.name == kInputParam || spec.name == kInputBase64Param) {
    where.at("name").fail("'" + spec.name + "' is reserved for the job's stdin (set \"stdin\": true)");
  }
  const std::string type = string_field(entry, "type", where, true);
  auto parsed = proto::parse_param_type(type);
  if (!parsed) where.at("type").fail("must be string, integer, number, boolean or enum");
  spec.type = *parsed;
  spec.description = string_field(entry, "description", where, false);
  spec.required = bool_field(entry, "required", where, false);
  spec.minimum = number_field(entry, "minimum", where);
  spec.maximum = number_field(entry, "maximum", where);
  const bool numeric = spec.type == proto::ParamType::integer || spec.type == proto::ParamType::number;
  if ((spec.minimum || spec.maximum) && !numeric) {
    where.at(spec.minimum ? "minimum" : "maximum").fail("applies to integer and number params only");
  }
  if (spec.minimum && spec.maximum && *spec.minimum > *spec.maximum) {
    where.at("minimum").fail("must not be greater than maximum");
  }
  if (auto max_length = count_field(entry, "max_length", where)) {
    if (spec.type != proto::ParamType::string) where.at("max_length").fail("applies to string params only");
    spec.max_length = *max_length;
  }
  if (member(entry, "pattern") != nullptr) {
    if (spec.type != proto::ParamType::string) where.at("pattern").fail("applies to string params only");
    spec.pattern = string_field(entry, "pattern", where, true);
  }
  if (member(entry, "choices") != nullptr) {
    if (spec.type != proto::ParamType::enumeration) where.at("choices").fail("applies to enum params only");
    spec.choices = string_list(entry, "choices", where);
  }
  if (spec.type == proto::ParamType::enumeration && spec.choices.empty()) {
    where.at("choices").fail("an enum needs at least one choice");
  }
  try {
    proto::ParamsSchema single{{spec}};
    proto::compile(single);
    spec.compiled = single.params.front().compiled;
  } catch (const std::invalid_argument& e) {
    where.at("pattern").fail(e.what());
  }
  if (const json* value = member(entry, "default")) {
    if (spec.required) where.at("default").fail("a required param cannot have a default");
    proto::ParamsSchema single{{spec}};
    auto checked = proto::validate_params(single, json{{spec.name, *value}});
    if (auto* error = std::get_if<proto::ParamError>(&checked)) where.at("default").fail(error->message);
    spec.default_value = *value;
  }

  const json* how = member(entry, "arg");
  const Where arg_where = where.at("arg");
  if (how == nullptr)
    arg_where.fail("is required: {\"option\": \"--name\"}, {\"positional\": true} or {\"flag\": \"-x\"}");
  if (!how->is_object() || how->size() != 1) {
    arg_where.fail("must be one of {\"option\": \"--name\"}, {\"positional\": true}, {\"flag\": \"-x\"}");
  }
  refuse_unknown_fields(*how, arg_where, {"option", "positional", "flag"});
  arg.param = spec.name;
  if (member(*how, "option")) {
    arg.style = ArgStyle::option;
    arg.option = string_field(*how, "option", arg_where, true);
    if (!is_option_name(arg.option)) {
      arg_where.at("option").fail("must be a long option \"--name\" or a short option \"-x\"");
    }
  } else if (member(*how, "positional")) {
    arg.style = ArgStyle::positional;
    if (!bool_field(*how, "positional", arg_where, false)) arg_where.at("positional").fail("must be true");
  } else {
    arg.style = ArgStyle::flag;
    arg.option = string_field(*how, "flag", arg_where, true);
    if (arg.option.empty()) arg_where.at("flag").fail("must not be empty");
    if (spec.type != proto::ParamType::boolean) arg_where.at("flag").fail("a flag needs a boolean param");
  }
  if (arg.style != ArgStyle::flag && spec.type == proto::ParamType::string) {
    // The kernel refuses longer argv strings; fail here, not at every spawn.
    const std::size_t room = kMaxArgumentBytes - (arg.style == ArgStyle::option ? arg.option.size() + 1 : 0);
    if (spec.max_length > room) {
      where.at("max_length")
          .fail("must be at most " + std::to_string(room) +
                " for a param that becomes an argument (the default is 65536)");
    }
  }
  return spec;
}

CommandLimits parse_limits(const json& entry, const Where& where) {
  CommandLimits limits;
  limits.open_files = kDefaultOpenFiles;
  const json* value = member(entry, "limits");
  if (value == nullptr) return limits;
  const Where at = where.at("limits");
  if (!value->is_object()) at.fail("must be an object");
  refuse_unknown_fields(
      *value, at, {"cpu_seconds", "address_space_bytes", "open_files", "file_size_bytes", "core_bytes"});
  // Below these minimums nothing starts (command_config.hpp): refused here, not at every spawn.
  limits.cpu_seconds = count_field(*value, "cpu_seconds", at);
  if (limits.cpu_seconds && *limits.cpu_seconds < kMinCpuSeconds) {
    at.at("cpu_seconds").fail("must be at least " + std::to_string(kMinCpuSeconds));
  }
  limits.address_space_bytes = count_field(*value, "address_space_bytes", at);
  if (limits.address_space_bytes && *limits.address_space_bytes < kMinAddressSpaceBytes) {
    at.at("address_space_bytes")
        .fail("must be at least " + std::to_string(kMinAddressSpaceBytes) +
              " (16 MiB: below it a program cannot even map its libraries)");
  }
  if (auto files = count_field(*value, "open_files", at)) {
    if (*files < kMinOpenFiles) {
      at.at("open_files")
          .fail("must be at least " + std::to_string(kMinOpenFiles) +
                " (stdin, stdout, stderr, the program's libraries; a shell script needs 12)");
    }
    limits.open_files = *files;
  }
  limits.file_size_bytes = count_field(*value, "file_size_bytes", at);
  limits.core_bytes = count_field(*value, "core_bytes", at).value_or(0);
  return limits;
}

std::vector<std::string> parse_env(const json& entry, const Where& where, const EnvLookup& lookup) {
  std::vector<std::string> env;
  std::set<std::string> names;
  if (const json* fixed = member(entry, "env")) {
    if (!fixed->is_object()) where.at("env").fail("must be an object of NAME: value");
    for (const auto& [name, value] : fixed->items()) {
      const Where at = where.at("env").at(name);
      if (!is_identifier(name)) at.fail("must be a variable name ([A-Za-z_][A-Za-z0-9_]*)");
      if (!value.is_string()) at.fail("must be a string");
      if (has_nul(value.get_ref<const std::string&>())) at.fail("must not contain a NUL character");
      env.push_back(name + "=" + value.get<std::string>());
      names.insert(name);
    }
  }
  const auto passed = string_list(entry, "pass_env", where);
  for (std::size_t i = 0; i < passed.size(); ++i) {
    const Where at = where.at("pass_env").at(i);
    if (!is_identifier(passed[i])) at.fail("must be a variable name ([A-Za-z_][A-Za-z0-9_]*)");
    if (!names.insert(passed[i]).second) at.fail("'" + passed[i] + "' is given twice (env or pass_env)");
    // A variable jobd does not have is simply not passed: the same file works everywhere.
    if (auto value = lookup ? lookup(passed[i]) : std::nullopt) env.push_back(passed[i] + "=" + *value);
  }
  if (!names.contains("PATH")) env.insert(env.begin(), "PATH=" + std::string(kDefaultPath));
  return env;
}

kinds::Kind parse_command(const json& entry, std::size_t index, const EnvLookup& lookup) {
  Where where{"commands[" + std::to_string(index) + "]", ""};
  if (!entry.is_object()) where.fail("must be an object");
  if (auto it = entry.find("name"); it != entry.end() && it->is_string()) {
    where.entry += " (" + it->get<std::string>() + ")";
  }
  refuse_unknown_fields(
      entry, where,
      {"name", "description", "program", "args", "params", "end_of_options", "stdin", "max_input_bytes",
       "env", "pass_env", "workdir", "timeout_ms", "max_stdout_bytes", "max_stderr_bytes", "limits"});
  auto command = std::make_shared<CommandSpec>();
  kinds::Kind kind;
  kind.name = string_field(entry, "name", where, true);
  if (!is_kind_name(kind.name)) {
    where.at("name").fail("must be 1-128 characters of [A-Za-z0-9_.-], starting with a letter or digit");
  }
  command->program = string_field(entry, "program", where, true);
  if (command->program.empty() || command->program.front() != '/' || command->program.back() == '/') {
    where.at("program").fail("must be an absolute path to a program (PATH is never searched)");
  }
  kind.description = string_field(entry, "description", where, false, "Runs " + command->program + ".");
  command->args = string_list(entry, "args", where);
  command->end_of_options = bool_field(entry, "end_of_options", where, false);
  command->stdin_input = bool_field(entry, "stdin", where, false);
  command->max_input_bytes = count_field(entry, "max_input_bytes", where).value_or(kDefaultMaxInputBytes);
  if (member(entry, "max_input_bytes") && !command->stdin_input) {
    where.at("max_input_bytes").fail("applies only with \"stdin\": true");
  }

  if (const json* params = member(entry, "params")) {
    if (!params->is_array()) where.at("params").fail("must be an array");
    for (std::size_t i = 0; i < params->size(); ++i) {
      Where at = where.at("params").at(i);
      if (auto it = (*params)[i].find("name");
          (*params)[i].is_object() && it != (*params)[i].end() && it->is_string()) {
        at.field += " (" + it->get<std::string>() + ")";
      }
      ParamArg arg;
      proto::ParamSpec spec = parse_param((*params)[i], at, arg);
      for (const auto& earlier : kind.params.params) {
        if (earlier.name == spec.name) at.at("name").fail("'" + spec.name + "' is declared twice");
      }
      if (spec.type == proto::ParamType::enumeration && arg.style == ArgStyle::positional &&
          !command->end_of_options) {
        for (const auto& choice : spec.choices) {
          if (!choice.empty() && choice.front() == '-') {
            at.at("choices").fail("choice '" + choice +
                                  "' of a positional param starts with '-' (set \"end_of_options\": true)");
          }
        }
      }
      kind.params.params.push_back(std::move(spec));
      command->param_args.push_back(std::move(arg));
    }
  }
  if (command->stdin_input) {
    proto::ParamSpec text{.name = std::string(kInputParam),
                          .type = proto::ParamType::string,
                          .description = "text written to the program's stdin (or use input_base64)",
                          .max_length = command->max_input_bytes};
    proto::ParamSpec bytes{.name = std::string(kInputBase64Param),
                           .type = proto::ParamType::string,
                           .description = "bytes written to the program's stdin, base64-encoded",
                           .max_length = (command->max_input_bytes + 2) / 3 * 4};
    kind.params.params.push_back(std::move(text));
    kind.params.params.push_back(std::move(bytes));
  }

  command->env = parse_env(entry, where, lookup);
  const std::string workdir = string_field(entry, "workdir", where, false, "temp");
  if (workdir != "temp") {
    if (workdir.empty() || workdir.front() != '/') {
      where.at("workdir").fail("must be \"temp\" (a fresh directory per job) or an absolute path");
    }
    command->workdir = workdir;
  }
  command->timeout = std::chrono::milliseconds(count_field(entry, "timeout_ms", where).value_or(0));
  command->max_stdout_bytes = count_field(entry, "max_stdout_bytes", where).value_or(kDefaultMaxStdoutBytes);
  command->max_stderr_bytes = count_field(entry, "max_stderr_bytes", where).value_or(kDefaultMaxStderrBytes);
  command->limits = parse_limits(entry, where);

  // Defaults are the operator's, but they travel like client values: hold them to the same rules.
  for (const auto& spec : kind.params.params) {
    if (!spec.default_value) continue;
    if (auto error = check_command_params(*command, json{{spec.name, *spec.default_value}})) {
      std::size_t i = 0;
      while (kind.params.params[i].name != spec.name) ++i;
      where.at("params").at(i).at("default").fail(error->message);
    }
  }

  std::shared_ptr<const CommandSpec> shared = command;
  kind.params.check = [shared](const json& params) { return check_command_params(*shared, params); };
  kind.executors = {proto::Executor::subprocess};
  kind.cancellation = "SIGTERM to the process group, SIGKILL after --kill-grace";
  kind.command = std::move(shared);
  return kind;
}

}  // namespace

std::vector<kinds::Kind> parse_command_config(const json& document, const EnvLookup& env) {
  if (!document.is_object()) throw CommandConfigError("the config must be an object {\"commands\": [...]}");
  refuse_unknown_fields(document, Where{}, {"commands"});
  const json* commands = member(document, "commands");
  if (commands == nullptr || !commands->is_array()) {
    throw CommandConfigError("commands: must be an array of command entries");
  }
  std::vector<kinds::Kind> kinds;
  for (std::size_t i = 0; i < commands->size(); ++i) {
    kinds::Kind kind = parse_command((*commands)[i], i, env);
    for (const auto& earlier : kinds) {
      if (earlier.name == kind.name) {
        throw CommandConfigError("commands[" + std::to_string(i) + "] (" + kind.name +
                                 "): name: another command has this name");
      }
    }
    kinds.push_back(std::move(kind));
  }
  return kinds;
}

std::vector<kinds::Kind> parse_command_config_text(std::string_view text, const EnvLookup& env) {
  json document;
  try {
    document = json::parse(text);
  } catch (const json::parse_error& e) {
    throw CommandConfigError("not valid JSON (at byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception& e) {
    // Valid syntax the parser still refuses, e.g. a number beyond a double (found by
    // config_fuzz: it escaped as nlohmann's out_of_range).
    throw CommandConfigError(std::string("not usable JSON: ") + e.what());
  }
  return parse_command_config(document, env);
}

std::vector<kinds::Kind> load_command_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CommandConfigError("cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  EnvLookup lookup = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
  std::vector<kinds::Kind> kinds = parse_command_config_text(text.str(), lookup);
  check_command_paths(kinds, probe_path);
  return kinds;
}

void register_command_kinds(kinds::KindRegistry& registry, std::vector<kinds::Kind> kinds) {
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    if (registry.find(kinds[i].name) != nullptr) {
      throw CommandConfigError("commands[" + std::to_string(i) + "] (" + kinds[i].name +
                               "): name: a built-in kind has this name");
    }
    registry.add(std::move(kinds[i]));
  }
}

}  // namespace jobd::exec
