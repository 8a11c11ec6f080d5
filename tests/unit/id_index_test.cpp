// The id index: parsing an id's text into its 16 bytes, and the flat table's probing under
// collisions, growth, backward-shift deletion across the end of the table, ids of another form,
// and a randomized comparison with std::unordered_map. The index never reads a Job: the tests
// store made-up pointers.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "jobs/id_index.hpp"
#include "jobs/job.hpp"

using jobd::jobs::IdIndex;
using jobd::jobs::IdKey;
using jobd::jobs::Job;
using jobd::jobs::parse_job_id;

namespace {

// A distinct, never dereferenced, non-null pointer per number: the index stores it as a value.
Job* fake_job(std::uint64_t n) {
  // NOLINTNEXTLINE(performance-no-int-to-ptr): an opaque value, never dereferenced
  return reinterpret_cast<Job*>(static_cast<std::uintptr_t>(8 * (n + 1)));
}

// `count` distinct random keys whose probe starts at `home` in `index` (at its capacity now).
std::vector<IdKey> keys_at(const IdIndex& index, std::size_t home, std::size_t count,
                           std::mt19937_64& random) {
  std::vector<IdKey> keys;
  while (keys.size() < count) {
    const IdKey key{random(), random()};
    if (index.home_slot(key) == home) keys.push_back(key);
  }
  return keys;
}

std::string hex_of(IdKey key) {
  char text[33];
  std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(key.hi),
                static_cast<unsigned long long>(key.lo));
  return text;
}

}  // namespace

TEST(IdIndex, ParsesOnlyThirtyTwoLowercaseHexDigits) {
  const auto key = parse_job_id("0123456789abcdef00000000000000ff");
  ASSERT_TRUE(key);
  EXPECT_EQ(key->hi, 0x0123456789abcdefULL);
  EXPECT_EQ(key->lo, 0xffULL);
  EXPECT_FALSE(parse_job_id("0123456789ABCDEF00000000000000ff"));  // ids are compared exactly
  EXPECT_FALSE(parse_job_id("0123456789abcdef00000000000000f"));
  EXPECT_FALSE(parse_job_id("0123456789abcdef00000000000000fff"));
  EXPECT_FALSE(parse_job_id("0123456789abcdef00000000000000fg"));
  EXPECT_FALSE(parse_job_id("g123456789abcdef00000000000000ff"));
  EXPECT_FALSE(
      parse_job_id(std::string_view("0123456789abcdef\0"
                                    "000000000000000",
                                    32)));
  EXPECT_FALSE(parse_job_id(""));
  const std::string made = jobd::jobs::make_job_id();
  ASSERT_TRUE(parse_job_id(made));
  EXPECT_EQ(hex_of(*parse_job_id(made)), made);
}

TEST(IdIndex, FindsWhatWasInsertedByItsTextAndForgetsWhatWasErased) {
  IdIndex index;
  const std::string a = jobd::jobs::make_job_id(), b = jobd::jobs::make_job_id();
  EXPECT_EQ(index.find(a), nullptr);
  EXPECT_FALSE(index.erase(a));
  EXPECT_TRUE(index.insert(a, fake_job(1)));
  EXPECT_FALSE(index.insert(a, fake_job(2)));  // already there: unchanged
  EXPECT_TRUE(index.insert(b, fake_job(3)));
  EXPECT_EQ(index.find(a), fake_job(1));
  EXPECT_EQ(index.find(b), fake_job(3));
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.find("not an id"), nullptr);
  EXPECT_TRUE(index.erase(a));
  EXPECT_FALSE(index.erase(a));
  EXPECT_EQ(index.find(a), nullptr);
  EXPECT_EQ(index.find(b), fake_job(3));
  EXPECT_EQ(index.size(), 1u);
}

TEST(IdIndex, IdsOfAnotherFormAreKeptByTheirExactText) {
  IdIndex index;
  EXPECT_TRUE(index.insert("abc", fake_job(1)));
  EXPECT_TRUE(index.insert("0123456789ABCDEF00000000000000FF", fake_job(2)));
  EXPECT_EQ(index.find("abc"), fake_job(1));
  EXPECT_EQ(index.find("ABC"), nullptr);
  EXPECT_EQ(index.find("0123456789ABCDEF00000000000000FF"), fake_job(2));
  EXPECT_EQ(index.find("0123456789abcdef00000000000000ff"), nullptr);  // a different id
  EXPECT_EQ(index.size(), 2u);
  EXPECT_TRUE(index.erase("abc"));
  EXPECT_EQ(index.find("abc"), nullptr);
  EXPECT_EQ(index.size(), 1u);
}

TEST(IdIndex, CollidingKeysAreAllFoundAndSurviveEachOthersErasure) {
  std::mt19937_64 random(1);
  IdIndex index;
  index.reserve(1);
  ASSERT_EQ(index.capacity(), IdIndex::kMinCapacity);
  const auto same = keys_at(index, 5, 6, random);  // one run: slots 5 to 10
  const auto next = keys_at(index, 6, 2, random);  // homes inside that run: pushed past it
  for (std::size_t i = 0; i < same.size(); ++i) ASSERT_TRUE(index.insert(same[i], fake_job(i)));
  for (std::size_t i = 0; i < next.size(); ++i) ASSERT_TRUE(index.insert(next[i], fake_job(100 + i)));
  ASSERT_EQ(index.capacity(), IdIndex::kMinCapacity);  // 8 of 16: no growth yet
  // Erasing from the front and the middle of the run shifts the later keys back.
  EXPECT_TRUE(index.erase(same[0]));
  EXPECT_TRUE(index.erase(same[3]));
  EXPECT_EQ(index.find(same[0]), nullptr);
  EXPECT_EQ(index.find(same[3]), nullptr);
  for (std::size_t i : {1u, 2u, 4u, 5u}) EXPECT_EQ(index.find(same[i]), fake_job(i)) << i;
  for (std::size_t i = 0; i < next.size(); ++i) EXPECT_EQ(index.find(next[i]), fake_job(100 + i)) << i;
  // What was erased can come back.
  EXPECT_TRUE(index.insert(same[3], fake_job(33)));
  EXPECT_EQ(index.find(same[3]), fake_job(33));
  EXPECT_EQ(index.size(), 7u);
}

TEST(IdIndex, ErasingWhereARunWrapsAroundTheEndKeepsEveryKeyFindable) {
  std::mt19937_64 random(2);
  IdIndex index;
  index.reserve(1);
  const std::size_t last = index.capacity() - 1;
  const auto at_end = keys_at(index, last, 3, random);  // slots last, 0, 1
  const auto at_zero = keys_at(index, 0, 2, random);    // pushed to 2 and 3
  const auto at_two = keys_at(index, 2, 1, random);     // pushed to 4
  for (std::size_t i = 0; i < 3; ++i) ASSERT_TRUE(index.insert(at_end[i], fake_job(i)));
  for (std::size_t i = 0; i < 2; ++i) ASSERT_TRUE(index.insert(at_zero[i], fake_job(10 + i)));
  ASSERT_TRUE(index.insert(at_two[0], fake_job(20)));
  // The hole at the last slot is filled from slot 0, that one from slot 1; keys homed at 0 and
  // 2 move back too, but never before their homes.
  EXPECT_TRUE(index.erase(at_end[0]));
  EXPECT_EQ(index.find(at_end[0]), nullptr);
  for (std::size_t i = 1; i < 3; ++i) EXPECT_EQ(index.find(at_end[i]), fake_job(i)) << i;
  for (std::size_t i = 0; i < 2; ++i) EXPECT_EQ(index.find(at_zero[i]), fake_job(10 + i)) << i;
  EXPECT_EQ(index.find(at_two[0]), fake_job(20));
  // A key homed at 0 erased from slot 1, behind a key homed at the end that wrapped to slot 0.
  EXPECT_TRUE(index.erase(at_zero[0]));
  for (std::size_t i = 1; i < 3; ++i) EXPECT_EQ(index.find(at_end[i]), fake_job(i)) << i;
  EXPECT_EQ(index.find(at_zero[1]), fake_job(11));
  EXPECT_EQ(index.find(at_two[0]), fake_job(20));
  // Emptied all the way, the table finds nothing and takes keys again.
  for (const auto& key : {at_end[1], at_end[2], at_zero[1], at_two[0]}) EXPECT_TRUE(index.erase(key));
  EXPECT_EQ(index.size(), 0u);
  for (const auto& key : {at_end[0], at_end[1], at_zero[0], at_two[0]}) EXPECT_EQ(index.find(key), nullptr);
  EXPECT_TRUE(index.insert(at_end[1], fake_job(1)));
  EXPECT_EQ(index.find(at_end[1]), fake_job(1));
}

TEST(IdIndex, GrowsByDoublingBeforeTheLoadPassesItsBound) {
  std::mt19937_64 random(3);
  IdIndex index;
  EXPECT_EQ(index.capacity(), 0u);
  std::vector<IdKey> keys;
  for (std::uint64_t i = 0; i < 5000; ++i) {
    keys.push_back({random(), random()});
    ASSERT_TRUE(index.insert(keys.back(), fake_job(i)));
    const std::size_t capacity = index.capacity();
    ASSERT_EQ(capacity & (capacity - 1), 0u) << "a power of two";
    ASSERT_LE(index.size() * 100, capacity * IdIndex::kMaxLoadPercent);
    if (capacity > IdIndex::kMinCapacity) {
      ASSERT_GT(index.size() * 100, capacity / 2 * IdIndex::kMaxLoadPercent) << "grown only when needed";
    }
  }
  for (std::uint64_t i = 0; i < keys.size(); ++i) ASSERT_EQ(index.find(keys[i]), fake_job(i)) << i;
  // reserve() makes room at once, and the inserts that follow do not grow the table.
  IdIndex reserved;
  reserved.reserve(5000);
  const std::size_t capacity = reserved.capacity();
  for (std::uint64_t i = 0; i < keys.size(); ++i) reserved.insert(keys[i], fake_job(i));
  EXPECT_EQ(reserved.capacity(), capacity);
}

TEST(IdIndex, BehavesAsAnUnorderedMapUnderRandomInsertsFindsAndErases) {
  std::mt19937_64 random(4);
  // A small pool of ids makes duplicates and erasures of absent ids common; a few ids of another
  // form ride along. Ids homed in a few slots of a small table make long runs that wrap.
  std::vector<std::string> pool;
  pool.reserve(400);
  for (int i = 0; i < 400; ++i) pool.push_back(hex_of({random(), random()}));
  {
    IdIndex probe;
    probe.reserve(1);
    for (std::size_t home : {0u, 1u, 15u}) {
      for (const auto& key : keys_at(probe, home, 8, random)) pool.push_back(hex_of(key));
    }
  }
  for (const char* other :
       {"a", "abc", "0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef0123456789abcde"}) {
    pool.push_back(other);
  }
  IdIndex index;
  std::unordered_map<std::string, Job*> expected;
  std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1);
  for (std::uint64_t step = 0; step < 200000; ++step) {
    const std::string& id = pool[pick(random)];
    // Grow for a while, then shrink, then mix: the table fills up and drains more than once.
    const std::uint64_t phase = (step / 20000) % 3;
    const std::uint64_t roll = random() % 10;
    const bool insert = phase == 0 ? roll < 7 : phase == 1 ? roll < 2 : roll < 5;
    if (insert) {
      const bool added = expected.emplace(id, fake_job(step)).second;
      ASSERT_EQ(index.insert(id, fake_job(step)), added) << step;
    } else {
      ASSERT_EQ(index.erase(id), expected.erase(id) == 1) << step;
    }
    ASSERT_EQ(index.size(), expected.size()) << step;
    const std::string& other = pool[pick(random)];
    const auto it = expected.find(other);
    ASSERT_EQ(index.find(other), it == expected.end() ? nullptr : it->second) << step;
    if (step % 5000 == 0) {
      for (const auto& [text, job] : expected) ASSERT_EQ(index.find(text), job) << step;
    }
  }
}
