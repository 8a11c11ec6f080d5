#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "api/auth.hpp"

using jobd::api::TokenSet;

TEST(TokenSet, AllowsOnlyConfiguredBearerTokens) {
  auto tokens = TokenSet::from_tokens({"first-token-0123456789", "second-token-0123456789"});
  EXPECT_TRUE(tokens.enabled());
  EXPECT_TRUE(tokens.allows("Bearer first-token-0123456789"));
  EXPECT_TRUE(tokens.allows("bearer second-token-0123456789"));  // scheme is case-insensitive
  EXPECT_FALSE(tokens.allows("Bearer first-token-012345678"));   // a prefix is not the token
  EXPECT_FALSE(tokens.allows("Bearer first-token-0123456789x"));
  EXPECT_FALSE(tokens.allows("Basic Zmlyc3QtdG9rZW4tMDEyMzQ1Njc4OQ=="));
  EXPECT_FALSE(tokens.allows(""));
  EXPECT_FALSE(tokens.allows("Bearer "));
}

TEST(TokenSet, EmptySetIsDisabled) { EXPECT_FALSE(TokenSet{}.enabled()); }

TEST(TokenSet, FileSkipsCommentsAndBlankLinesAndRefusesShortTokens) {
  const std::string path = "/tmp/jobd-tokens-" + std::to_string(::getpid());
  std::ofstream(path) << "# ops team\n\n  spaced-token-0123456789  \nother-token-0123456789\n";
  auto tokens = TokenSet::load_file(path);
  EXPECT_TRUE(tokens.allows("Bearer spaced-token-0123456789"));
  EXPECT_TRUE(tokens.allows("Bearer other-token-0123456789"));
  std::ofstream(path) << "short\n";
  try {
    TokenSet::load_file(path);
    FAIL() << "a short token was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).find("short\n"), std::string::npos);  // never echoes a token
  }
  std::ofstream(path) << "# nothing\n";
  EXPECT_THROW(TokenSet::load_file(path), std::runtime_error);
  std::remove(path.c_str());
  EXPECT_THROW(TokenSet::load_file(path), std::runtime_error);
}
