// Bearer-token authentication of the API (--token-file). Tokens are kept only as SHA-256
// digests and compared in constant time, so neither timing nor a memory dump of the
// comparison reveals them; they never reach a log line.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace jobd::api {

class TokenSet {
 public:
  // One token per line; blank lines and lines starting with '#' are skipped. Throws
  // std::runtime_error (naming the file, never a token) when the file cannot be read, holds no
  // token, or a token is shorter than kMinTokenBytes.
  static TokenSet load_file(const std::string& path);
  static TokenSet from_tokens(const std::vector<std::string>& tokens);

  bool enabled() const { return !digests_.empty(); }
  // Whether an Authorization header value ("Bearer <token>") names a configured token.
  bool allows(std::string_view authorization) const;

  static constexpr std::size_t kMinTokenBytes = 16;

 private:
  std::vector<std::array<unsigned char, 32>> digests_;
};

}  // namespace jobd::api
