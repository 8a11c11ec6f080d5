// Query parameters shared by the handlers, parsed into values or into the 400 problem that
// names the parameter (/problems/invalid-query). Pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "jobd/proto/job.hpp"
#include "jobd/proto/problem.hpp"
#include "jobs/record.hpp"

namespace jobd::api {

// The problem of a bad ?name= parameter.
proto::Problem query_problem(const std::string& name, std::string detail);

// ?wait=SECONDS: a decimal number of seconds from 0 to `max_wait`; 0 when absent.
std::variant<std::chrono::milliseconds, proto::Problem> parse_wait(std::string_view query,
                                                                   std::chrono::milliseconds max_wait);

// ?state=: one of the job states; nullopt when absent.
std::variant<std::optional<proto::JobState>, proto::Problem> parse_state(std::string_view query);

// ?fields=: `summary` (the default) or `full`.
std::variant<jobs::RecordFields, proto::Problem> parse_fields(std::string_view query);

}  // namespace jobd::api
