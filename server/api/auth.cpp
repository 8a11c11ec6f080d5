#include "api/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <stdexcept>

namespace jobd::api {

namespace {
std::array<unsigned char, 32> digest(std::string_view text) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data());
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}
}  // namespace

TokenSet TokenSet::from_tokens(const std::vector<std::string>& tokens) {
  TokenSet set;
  for (const auto& token : tokens) {
    if (token.size() < kMinTokenBytes) {
      throw std::runtime_error("a token is shorter than " + std::to_string(kMinTokenBytes) + " bytes");
    }
    set.digests_.push_back(digest(token));
  }
  return set;
}

TokenSet TokenSet::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read token file " + path);
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    const auto token = trim(line);
    if (token.empty() || token.front() == '#') continue;
    tokens.emplace_back(token);
  }
  if (tokens.empty()) throw std::runtime_error("token file " + path + " holds no token");
  try {
    return from_tokens(tokens);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("token file " + path + ": " + e.what());
  }
}

bool TokenSet::allows(std::string_view authorization) const {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size()) return false;
  // The scheme name is case-insensitive (RFC 9110 §11.1).
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return false;
    }
  }
  const auto presented = digest(trim(authorization.substr(kScheme.size())));
  // Compare with every token, without stopping at a match, in constant time per comparison.
  bool match = false;
  for (const auto& known : digests_)
    match |= CRYPTO_memcmp(known.data(), presented.data(), known.size()) == 0;
  return match;
}

}  // namespace jobd::api
