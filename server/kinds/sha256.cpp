// sha256 {data, rounds}: iterated hashing with OpenSSL's EVP interface. Pure CPU.
#include <openssl/evp.h>

#include <array>
#include <memory>

#include "kinds/builtin.hpp"

namespace jobd::kinds {

inline constexpr std::int64_t kMaxRounds = 100'000'000;
inline constexpr std::size_t kMaxDataBytes = 1 << 20;
// Rounds between two looks at the stop token (~0.3 ms of hashing).
inline constexpr std::int64_t kRoundsPerCheck = 1024;

namespace {
std::string to_hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}
}  // namespace

std::optional<std::string> iterated_sha256(std::string_view data, std::int64_t rounds, CpuContext& ctx) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned size = 0;
  auto hash = [&](const void* input, std::size_t length) {
    EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr);
    EVP_DigestUpdate(md.get(), input, length);
    EVP_DigestFinal_ex(md.get(), digest.data(), &size);
  };
  hash(data.data(), data.size());
  for (std::int64_t round = 1; round < rounds; ++round) {
    if (round % kRoundsPerCheck == 0) {
      if (ctx.checkpoint()) return std::nullopt;
      if (ctx.progress) ctx.progress(static_cast<double>(round) / static_cast<double>(rounds), "hashing");
    }
    // The previous digest's raw bytes are the next input (hashing the hex would be twice the work
    // for nothing).
    std::array<unsigned char, EVP_MAX_MD_SIZE> previous = digest;
    hash(previous.data(), size);
  }
  return to_hex(digest.data(), size);
}

Kind make_sha256_kind() {
  Kind kind;
  kind.name = "sha256";
  kind.description = "Hex SHA-256 of `data`, re-hashed `rounds` times in all (raw digest bytes).";
  kind.params.params = {{.name = "data",
                         .type = proto::ParamType::string,
                         .description = "input text",
                         .required = true,
                         .max_length = kMaxDataBytes},
                        {.name = "rounds",
                         .type = proto::ParamType::integer,
                         .description = "number of hash applications",
                         .default_value = 1,
                         .minimum = 1,
                         .maximum = static_cast<double>(kMaxRounds)}};
  kind.executors = {proto::Executor::thread, proto::Executor::process};
  kind.cancellation = "cooperative on thread (checked every 1024 rounds); kill on process";
  kind.run_on_cpu = [](const nlohmann::json& params, CpuContext& ctx) {
    auto digest = iterated_sha256(params.at("data").get_ref<const std::string&>(),
                                  params.at("rounds").get<std::int64_t>(), ctx);
    if (!digest) return Outcome::failure(proto::job_error::cancelled, "stopped");
    return Outcome::success({{"digest", *digest}, {"rounds", params.at("rounds")}});
  };
  return kind;
}

}  // namespace jobd::kinds
