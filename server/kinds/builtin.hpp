// Factories of the built-in kinds, one per file in this folder.
#pragma once

#include "kinds/kind.hpp"

namespace jobd::kinds {

Kind make_sleep_kind();   // loop: waits {ms}
Kind make_echo_kind();    // loop: returns its params
Kind make_primes_kind();  // thread|process: counts primes <= n
Kind make_sha256_kind();  // thread|process: iterated SHA-256

// Pure functions behind the CPU kinds, exposed for unit tests.
// Counts primes <= n with a segmented sieve; returns nullopt when a checkpoint says stop.
std::optional<std::int64_t> count_primes(std::int64_t n, CpuContext& ctx);
// Hex SHA-256 of `data`, then of the previous digest, `rounds` times in all.
std::optional<std::string> iterated_sha256(std::string_view data, std::int64_t rounds, CpuContext& ctx);

}  // namespace jobd::kinds
