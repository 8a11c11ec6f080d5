#include "exec/command_config.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

namespace jobd::exec {

using kinds::ArgStyle;
using kinds::CommandLimits;
using kinds::ParamArg;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxKindNameBytes = 128;

// Where in the file a problem is: "commands[2] (sort)" and a field path such as
// "params[0].arg.flag". Every error message starts with both.
struct Where {
  std::string entry;
  std::string field;

  Where at(const std::string& child) const {
    return {entry, field.empty() ? child : field + (child.front() == '[' ? "" : ".") + child};
  }
  Where at(std::size_t index) const {
    std::string child = std::to_string(index);  // appended, not "[" + ...: GCC 12 -Wstringop-overflow
    child.insert(child.begin(), '[');
    child.push_back(']');
    return at(child);
  }
  [[noreturn]] void fail(const std::string& message) const {
    std::string text = entry;
    if (!field.empty()) text += (text.empty() ? "" : ": ") + field;
    throw CommandConfigError(text + ": " + message);
  }
};

bool is_identifier(std::string_view text) {
  if (text.empty() || std::isdigit(static_cast<unsigned char>(text.front()))) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool is_kind_name(std::string_view text) {
  if (text.empty() || text.size() > kMaxKindNameBytes) return false;
  if (!std::isalnum(static_cast<unsigned char>(text.front()))) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

// "--long-name" (then "--long-name=VALUE") or "-x" (then "-xVALUE").
bool is_option_name(std::string_view text) {
  auto word_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  };
  if (text.size() == 2 && text[0] == '-') return std::isalnum(static_cast<unsigned char>(text[1]));
  return text.size() > 2 && text.substr(0, 2) == "--" && std::isalnum(static_cast<unsigned char>(text[2])) &&
         std::all_of(text.begin() + 2, text.end(), word_char);
}

void refuse_unknown_fields(const json& object, const Where& where,
                           std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string names;
      for (auto name : known) names += (names.empty() ? "" : ", ") + std::string(name);
      where.at(key).fail("unknown field (known: " + names + ")");
    }
  }
}

const json* member(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string string_field(const json& object, const char* key, const Where& where, bool required,
                         std::string fallback = {}) {
  const json* value = member(object, key);
  if (value == nullptr) {
    if (required) where.at(key).fail("is required");
    return fallback;
  }
  if (!value->is_string()) where.at(key).fail("must be a string");
  const auto& text = value->get_ref<const std::string&>();
  if (has_nul(text)) where.at(key).fail("must not contain a NUL character");
  return text;
}

bool bool_field(const json& object, const char* key, const Where& where, bool fallback) {
  const json* value = member(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) where.at(key).fail("must be true or false");
  return value->get<bool>();
}

std::optional<std::uint64_t> count_field(const json& object, const char* key, const Where& where) {
  const json* value = member(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number_integer() ||
      (value->is_number_integer() && !value->is_number_unsigned() && value->get<std::int64_t>() < 0)) {
    where.at(key).fail("must be a non-negative integer");
  }
  return value->get<std::uint64_t>();
}

std::optional<double> number_field(const json& object, const char* key, const Where& where) {
  const json* value = member(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) where.at(key).fail("must be a number");
  return value->get<double>();
}

std::vector<std::string> string_list(const json& object, const char* key, const Where& where) {
  std::vector<std::string> out;
  const json* value = member(object, key);
  if (value == nullptr) return out;
  if (!value->is_array()) where.at(key).fail("must be an array of strings");
  for (std::size_t i = 0; i < value->size(); ++i) {
    const json& item = (*value)[i];
    if (!item.is_string()) where.at(key).at(i).fail("must be a string");
    if (has_nul(item.get_ref<const std::string&>())) {
      where.at(key).at(i).fail("must not contain a NUL character");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

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

// The argv and stdin rules that the per-field checks cannot express (see the header).
std::optional<proto::ParamError> check_command_params(const CommandSpec& command, const json& params) {
  for (const ParamArg& arg : command.param_args) {
    auto it = params.find(arg.param);
    if (it == params.end()) continue;
    if (arg.style == ArgStyle::flag) continue;  // a fixed text: the value never reaches argv
    const std::string text = argument_text(*it);
    if (has_nul(text)) return refuse(arg.param, "must not contain a NUL character");
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
  limits.cpu_seconds = count_field(*value, "cpu_seconds", at);
  limits.address_space_bytes = count_field(*value, "address_space_bytes", at);
  if (auto files = count_field(*value, "open_files", at)) {
    if (*files < 3) at.at("open_files").fail("must be at least 3 (stdin, stdout, stderr)");
    limits.open_files = *files;
  }
  limits.file_size_bytes = count_field(*value, "file_size_bytes", at);
  limits.core_bytes = count_field(*value, "core_bytes", at).value_or(0);
  if (limits.cpu_seconds && *limits.cpu_seconds == 0) at.at("cpu_seconds").fail("must be at least 1");
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
  // A program missing at start is only a warning: it may be installed later, and a job that
  // runs it meanwhile fails clearly (spawn-failed).
  for (const auto& kind : kinds) {
    if (::access(kind.command->program.c_str(), X_OK) != 0) {
      spdlog::warn("command kind '{}': {} is not an executable file (jobs will fail to spawn)", kind.name,
                   kind.command->program);
    }
  }
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

namespace {
constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> base64_values() {
  std::array<std::int8_t, 256> values{};
  for (auto& v : values) v = -1;
  for (int i = 0; i < 64; ++i)
    values[static_cast<unsigned char>(kBase64Alphabet[i])] = static_cast<std::int8_t>(i);
  return values;
}
constexpr auto kBase64Values = base64_values();
}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int values[4];
    int padding = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = text[i + static_cast<std::size_t>(j)];
      if (c == '=' && last && j >= 2) {
        ++padding;
        values[j] = 0;
        continue;
      }
      if (padding > 0) return std::nullopt;  // data after '='
      values[j] = kBase64Values[static_cast<unsigned char>(c)];
      if (values[j] < 0) return std::nullopt;
    }
    const unsigned group = (static_cast<unsigned>(values[0]) << 18) |
                           (static_cast<unsigned>(values[1]) << 12) |
                           (static_cast<unsigned>(values[2]) << 6) | static_cast<unsigned>(values[3]);
    out.push_back(static_cast<char>((group >> 16) & 0xff));
    if (padding < 2) out.push_back(static_cast<char>((group >> 8) & 0xff));
    if (padding < 1) out.push_back(static_cast<char>(group & 0xff));
  }
  return out;
}

std::string encode_base64(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned group = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out.push_back(kBase64Alphabet[(group >> 18) & 63]);
    out.push_back(kBase64Alphabet[(group >> 12) & 63]);
    out.push_back(kBase64Alphabet[(group >> 6) & 63]);
    out.push_back(kBase64Alphabet[group & 63]);
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    const unsigned group = (byte(i) << 16) | (rest == 2 ? byte(i + 1) << 8 : 0u);
    out.push_back(kBase64Alphabet[(group >> 18) & 63]);
    out.push_back(kBase64Alphabet[(group >> 12) & 63]);
    out.push_back(rest == 2 ? kBase64Alphabet[(group >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace jobd::exec
