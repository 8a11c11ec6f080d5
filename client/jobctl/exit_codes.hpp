// jobctl's exit codes: the contract scripts rely on (README and --help list them).
#pragma once

namespace jobd::jobctl {

inline constexpr int kExitSucceeded = 0;    // the request worked; the job (if any) succeeded
inline constexpr int kExitJobFailed = 1;    // the job failed, was cancelled, timed out, or was not
                                            // finished when the wait ran out; bench: not every job succeeded
inline constexpr int kExitUsage = 2;        // bad command line
inline constexpr int kExitServerError = 3;  // the server refused (non-2xx) or could not be reached

}  // namespace jobd::jobctl
