#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "kinds/builtin.hpp"
#include "kinds/sleep_for.hpp"
#include "kinds/testing/test_kinds.hpp"

using namespace jobd;
using namespace jobd::kinds;

TEST(Primes, CountsMatchKnownValues) {
  std::stop_source never;
  const std::pair<std::int64_t, std::int64_t> known[] = {{0, 0},
                                                         {1, 0},
                                                         {2, 1},
                                                         {3, 2},
                                                         {10, 4},
                                                         {100, 25},
                                                         {1000, 168},
                                                         {7919, 1000},
                                                         {7920, 1000},
                                                         {1'000'000, 78498},
                                                         {10'000'000, 664579}};
  for (auto [n, count] : known) EXPECT_EQ(count_primes(n, never.get_token(), {}), count) << "n=" << n;
}

TEST(Primes, SegmentBoundariesDoNotLoseOrDoublePrimes) {
  // 2 * 256Ki odd numbers per segment: n around a boundary, checked against a plain sieve.
  std::stop_source never;
  const std::int64_t limit = 2 * 256 * 1024 * 2 + 10;
  std::vector<char> sieve(static_cast<std::size_t>(limit + 1), 1);
  sieve[0] = sieve[1] = 0;
  for (std::int64_t i = 2; i * i <= limit; ++i) {
    if (sieve[static_cast<std::size_t>(i)]) {
      for (std::int64_t j = i * i; j <= limit; j += i) sieve[static_cast<std::size_t>(j)] = 0;
    }
  }
  std::int64_t count = 0;
  for (std::int64_t n = 0; n <= limit; ++n) {
    count += sieve[static_cast<std::size_t>(n)];
    if (n > 524'270 && n < 524'300) {
      EXPECT_EQ(count_primes(n, never.get_token(), {}), count) << n;
    }
  }
  EXPECT_EQ(count_primes(limit, never.get_token(), {}), count);
}

TEST(Primes, StopsWhenAskedAndReportsProgress) {
  std::stop_source stop;
  int reports = 0;
  auto result = count_primes(1'000'000'000, stop.get_token(), [&](double fraction, std::string_view) {
    EXPECT_GT(fraction, 0.0);
    EXPECT_LT(fraction, 1.0);
    if (++reports == 3) stop.request_stop();
  });
  EXPECT_FALSE(result.has_value());
  EXPECT_EQ(reports, 3);
}

TEST(Sha256, MatchesKnownDigestsAndIterates) {
  std::stop_source never;
  EXPECT_EQ(iterated_sha256("abc", 1, never.get_token(), {}),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(iterated_sha256("", 1, never.get_token(), {}),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // Two rounds: SHA-256 of the raw 32-byte digest of "abc".
  EXPECT_EQ(iterated_sha256("abc", 2, never.get_token(), {}),
            "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358");
}

TEST(Sha256, StopsWhenAsked) {
  std::stop_source stop;
  stop.request_stop();
  EXPECT_FALSE(iterated_sha256("x", 1'000'000, stop.get_token(), {}).has_value());
}

TEST(KindRegistry, BuiltinsAreRegisteredAndTestKindsOnlyOnRequest) {
  KindRegistry plain;
  register_builtin_kinds(plain);
  for (const char* name : {"sleep", "echo", "primes", "sha256"}) EXPECT_NE(plain.find(name), nullptr) << name;
  EXPECT_EQ(plain.find("spin"), nullptr);
  KindRegistry with_test_kinds;
  register_builtin_kinds(with_test_kinds);
  jobd::kinds::testing::register_test_kinds(with_test_kinds);
  EXPECT_NE(with_test_kinds.find("spin"), nullptr);
  EXPECT_NE(with_test_kinds.find("fail"), nullptr);
}

TEST(KindRegistry, RefusesDuplicatesAndExecutorsWithoutCode) {
  KindRegistry registry;
  registry.add(make_echo_kind());
  EXPECT_THROW(registry.add(make_echo_kind()), std::invalid_argument);
  Kind broken = make_echo_kind();
  broken.name = "broken";
  broken.executors = {proto::Executor::thread};  // echo has no CPU code
  EXPECT_THROW(registry.add(broken), std::invalid_argument);
}

TEST(KindRegistry, CatalogEntryShowsExecutorsDefaultAndSchema) {
  auto entry = KindRegistry::describe(make_primes_kind());
  EXPECT_EQ(entry["name"], "primes");
  EXPECT_EQ(entry["executors"], nlohmann::json::array({"thread", "process"}));
  EXPECT_EQ(entry["default_executor"], "thread");
  EXPECT_EQ(entry["params"]["required"], nlohmann::json::array({"n"}));
  EXPECT_FALSE(entry["cancellation"].get<std::string>().empty());
}

// The loop's timer wait that app/ and cluster/ share: each coroutine resumes after its own
// duration, the others run meanwhile, and a wait left pending when the loop goes is freed.
TEST(SleepFor, ResumesAfterItsDurationWhileOtherCoroutinesRun) {
  using namespace std::chrono_literals;
  boost::asio::io_context loop;
  std::vector<std::string> order;
  std::chrono::steady_clock::duration slept{};
  auto sleeper = [&](std::string name, std::chrono::milliseconds duration) -> boost::asio::awaitable<void> {
    const auto start = std::chrono::steady_clock::now();
    co_await sleep_for(duration);
    if (name == "long") slept = std::chrono::steady_clock::now() - start;
    order.push_back(std::move(name));
  };
  boost::asio::co_spawn(loop, sleeper("long", 60ms), boost::asio::detached);
  boost::asio::co_spawn(loop, sleeper("short", 5ms), boost::asio::detached);
  loop.run();
  EXPECT_EQ(order, (std::vector<std::string>{"short", "long"}));
  EXPECT_GE(slept, 60ms);

  boost::asio::io_context gone;
  boost::asio::co_spawn(gone, sleeper("never", std::chrono::hours(1)), boost::asio::detached);
  gone.run_for(10ms);
  EXPECT_EQ(order.size(), 2u);  // still waiting; destroying the loop frees its frame
}
