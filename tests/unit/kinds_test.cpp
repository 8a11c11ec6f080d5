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
  CpuContext plain;
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
  for (auto [n, count] : known) EXPECT_EQ(count_primes(n, plain), count) << "n=" << n;
}

TEST(Primes, SegmentBoundariesDoNotLoseOrDoublePrimes) {
  // 2 * 256Ki odd numbers per segment: n around a boundary, checked against a plain sieve.
  CpuContext plain;
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
      EXPECT_EQ(count_primes(n, plain), count) << n;
    }
  }
  EXPECT_EQ(count_primes(limit, plain), count);
}

TEST(Primes, StopsWhenAskedAndReportsProgress) {
  std::stop_source stop;
  int reports = 0;
  CpuContext ctx{stop.get_token(), [&](double fraction, std::string_view) {
                   EXPECT_GT(fraction, 0.0);
                   EXPECT_LT(fraction, 1.0);
                   if (++reports == 3) stop.request_stop();
                 }};
  auto result = count_primes(1'000'000'000, ctx);
  EXPECT_FALSE(result.has_value());
  EXPECT_EQ(reports, 3);
}

TEST(Sha256, MatchesKnownDigestsAndIterates) {
  CpuContext plain;
  EXPECT_EQ(iterated_sha256("abc", 1, plain),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(iterated_sha256("", 1, plain),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // Two rounds: SHA-256 of the raw 32-byte digest of "abc".
  EXPECT_EQ(iterated_sha256("abc", 2, plain),
            "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358");
}

TEST(Sha256, StopsWhenAsked) {
  std::stop_source stop;
  stop.request_stop();
  CpuContext ctx{stop.get_token(), {}};
  EXPECT_FALSE(iterated_sha256("x", 1'000'000, ctx).has_value());
}

// A thread that ran past yield_every yields at its next checkpoint, at most once per interval
// (its clock starts at its first checkpoint); with zero it never yields; a stop is reported
// either way.
TEST(CpuContext, CheckpointsYieldAtMostOncePerIntervalAndReportStop) {
  using std::chrono::steady_clock;
  std::stop_source stop;
  CpuContext never{stop.get_token(), {}};
  CpuContext yielding{stop.get_token(), {}};
  yielding.yield_every = std::chrono::milliseconds(1);
  const auto started = steady_clock::now();
  while (yielding.yields < 5 && steady_clock::now() - started < std::chrono::seconds(10)) {
    EXPECT_FALSE(never.checkpoint());
    EXPECT_FALSE(yielding.checkpoint());
  }
  const auto elapsed = steady_clock::now() - started;
  EXPECT_EQ(yielding.yields, 5u);
  // Five yields take four intervals at least (five once this thread's clock has started).
  EXPECT_GE(elapsed, std::chrono::milliseconds(4));
  EXPECT_EQ(never.yields, 0u);
  stop.request_stop();
  EXPECT_TRUE(never.checkpoint());
  EXPECT_TRUE(yielding.checkpoint());
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
