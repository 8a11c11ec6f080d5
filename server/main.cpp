// jobd: flags → config → app.
#include "app/app.hpp"
#include "app/logging.hpp"
#include "config/config.hpp"

int main(int argc, char** argv) {
  auto parsed = jobd::config::parse_command_line(argc, argv);
  if (const int* exit_code = std::get_if<int>(&parsed)) return *exit_code;
  const auto& config = std::get<jobd::config::Config>(parsed);
  jobd::app::setup_logging(config.log_level, config.log_format);
  return jobd::app::run(config);
}
