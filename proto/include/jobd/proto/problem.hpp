// RFC 9457 problem details: every error jobd answers with has a stable `type` from this list,
// so clients branch on `type`, never on the human-readable `title` or `detail`.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace jobd::proto {

struct ProblemType {
  std::string_view type;
  std::string_view title;
  unsigned status;
};

namespace problems {
inline constexpr ProblemType bad_request{"/problems/bad-request", "Malformed HTTP request", 400};
inline constexpr ProblemType bad_json{"/problems/bad-json", "Body is not valid JSON", 400};
inline constexpr ProblemType invalid_request{"/problems/invalid-request", "Invalid request field", 400};
inline constexpr ProblemType invalid_params{"/problems/invalid-params", "Invalid job parameters", 400};
inline constexpr ProblemType unknown_kind{"/problems/unknown-kind", "Unknown job kind", 400};
inline constexpr ProblemType executor_not_allowed{"/problems/executor-not-allowed",
                                                  "Kind cannot run on that executor", 400};
inline constexpr ProblemType invalid_query{"/problems/invalid-query", "Invalid query parameter", 400};
inline constexpr ProblemType unauthorized{"/problems/unauthorized", "Missing or invalid token", 401};
inline constexpr ProblemType not_found{"/problems/not-found", "No such resource", 404};
inline constexpr ProblemType job_not_found{"/problems/job-not-found", "No such job", 404};
inline constexpr ProblemType method_not_allowed{"/problems/method-not-allowed", "Method not allowed", 405};
inline constexpr ProblemType job_finished{"/problems/job-finished", "Job already finished", 409};
inline constexpr ProblemType backup_unavailable{"/problems/backup-unavailable", "Backups are not available",
                                                409};
inline constexpr ProblemType backup_in_progress{"/problems/backup-in-progress", "A backup is being written",
                                                409};
inline constexpr ProblemType backup_failed{"/problems/backup-failed", "The backup could not be written", 500};
inline constexpr ProblemType body_too_large{"/problems/body-too-large", "Request body too large", 413};
inline constexpr ProblemType unsupported_media_type{"/problems/unsupported-media-type",
                                                    "Body must be application/json", 415};
inline constexpr ProblemType idempotency_conflict{"/problems/idempotency-conflict",
                                                  "Idempotency key reused with a different request", 422};
inline constexpr ProblemType queue_full{"/problems/queue-full", "Executor queue is full", 429};
inline constexpr ProblemType headers_too_large{"/problems/headers-too-large", "Request headers too large",
                                               431};
inline constexpr ProblemType draining{"/problems/draining", "Server is shutting down", 503};
inline constexpr ProblemType not_ready{"/problems/not-ready", "Server is not ready", 503};
inline constexpr ProblemType store_unavailable{"/problems/store-unavailable", "Job store unavailable", 503};
inline constexpr ProblemType too_many_connections{"/problems/too-many-connections", "Too many connections",
                                                  503};
inline constexpr ProblemType internal{"/problems/internal", "Internal error", 500};
inline constexpr ProblemType http_version{"/problems/http-version", "Only HTTP/1.0 and HTTP/1.1 are served",
                                          505};
}  // namespace problems

// One problem instance: the type plus what is specific to this occurrence.
struct Problem {
  ProblemType kind;
  std::string detail;
  std::optional<std::string> pointer;  // JSON pointer of the offending field, for field errors
  std::optional<unsigned> retry_after_s;
};

// Escapes one reference token of a JSON pointer (RFC 6901: ~ as ~0, / as ~1).
std::string json_pointer_token(std::string_view token);

// The application/problem+json body.
std::string to_problem_json(const Problem& problem);

}  // namespace jobd::proto
