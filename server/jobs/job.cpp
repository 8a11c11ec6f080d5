#include "jobs/job.hpp"

#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace jobd::jobs {

proto::JobState Job::visible_state() const {
  if (state == proto::JobState::queued && control &&
      control->started_ns.load(std::memory_order_relaxed) != 0) {
    return proto::JobState::running;
  }
  return state;
}

std::optional<Clock::time_point> Job::visible_started_at() const {
  if (started_at) return started_at;
  if (control) {
    if (auto ns = control->started_ns.load(std::memory_order_relaxed); ns != 0) {
      return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
    }
  }
  return std::nullopt;
}

std::vector<JobEvent> Job::history() const {
  std::vector<JobEvent> events;
  const auto keep = [this](std::uint64_t event) { return event != 0 && event >= first_kept_event; };
  // The queued event is 1; started_at and finished_at are set exactly when their events are.
  if (keep(1))
    events.push_back({.id = 1, .type = EventType::state, .state = proto::JobState::queued, .at = created_at});
  if (keep(running_event)) {
    events.push_back({.id = running_event,
                      .type = EventType::state,
                      .state = proto::JobState::running,
                      .at = *started_at});
  }
  if (keep(final_event)) {
    events.push_back({.id = final_event, .type = EventType::state, .state = state, .at = *finished_at});
  }
  if (other_events) {
    const auto states = events.size();
    events.insert(events.end(), other_events->begin(), other_events->end());
    std::inplace_merge(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(states), events.end(),
                       [](const JobEvent& a, const JobEvent& b) { return a.id < b.id; });
  }
  return events;
}

std::string_view to_string(EventType type) noexcept {
  static constexpr std::string_view kNames[] = {"state", "progress", "stdout", "stderr"};
  return kNames[static_cast<int>(type)];
}

void append_rfc3339(std::string& out, Clock::time_point time) {
  // Civil time from the calendar types (no gmtime_r, no locale), three per record; the date and
  // the minute are rendered once per minute (per thread): the records of a minute share them.
  using namespace std::chrono;
  struct MinuteText {
    long long minute = std::numeric_limits<long long>::min();
    char text[17];  // "YYYY-MM-DDTHH:MM:"
  };
  thread_local MinuteText cached;
  const auto digits = [](char* text, int at, long long value, int width) {
    for (int i = at + width - 1; i >= at; --i, value /= 10) text[i] = static_cast<char>('0' + value % 10);
  };
  const auto ms = floor<milliseconds>(time);
  const auto minute = floor<minutes>(ms);
  if (minute.time_since_epoch().count() != cached.minute) {
    const auto day = floor<days>(minute);
    const year_month_day date{day};
    const hh_mm_ss clock{minute - day};
    char* text = cached.text;
    digits(text, 0, static_cast<int>(date.year()), 4);
    text[4] = '-';
    digits(text, 5, static_cast<unsigned>(date.month()), 2);
    text[7] = '-';
    digits(text, 8, static_cast<unsigned>(date.day()), 2);
    text[10] = 'T';
    digits(text, 11, clock.hours().count(), 2);
    text[13] = ':';
    digits(text, 14, clock.minutes().count(), 2);
    text[16] = ':';
    cached.minute = minute.time_since_epoch().count();
  }
  const auto in_minute = (ms - minute).count();  // 0..59,999
  char text[24];
  std::memcpy(text, cached.text, sizeof cached.text);
  digits(text, 17, in_minute / 1000, 2);
  text[19] = '.';
  digits(text, 20, in_minute % 1000, 3);
  text[23] = 'Z';
  out.append(text, sizeof text);
}

std::string format_rfc3339(Clock::time_point time) {
  std::string text;
  append_rfc3339(text, time);
  return text;
}

namespace {

// Ids are drawn from a per-thread block of CSPRNG output, 64 at a time: a RAND_bytes call per id
// cost ~1 us of the loop's ~17 us per echo job (OpenSSL 3's DRBG spends it on locks and dispatch,
// not on the 16 bytes). A forked child throws away what its parent drew, so two processes never
// hand out the same ids.
constexpr std::size_t kIdBytes = 16;
constexpr std::size_t kIdsPerDraw = 64;
std::atomic<unsigned> fork_generation{0};

struct IdBlock {
  std::array<unsigned char, kIdBytes * kIdsPerDraw> bytes{};
  std::size_t used = kIdBytes * kIdsPerDraw;  // empty: drawn on first use
  unsigned generation = 0;
};

// Registered once, at start-up (before main, so before any fork).
[[maybe_unused]] const bool fork_generation_counted =
    pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1, std::memory_order_relaxed); }) == 0;

IdBlock& id_block() {
  thread_local IdBlock block;
  return block;
}

const unsigned char* next_id_bytes() {
  IdBlock& block = id_block();
  const unsigned generation = fork_generation.load(std::memory_order_relaxed);
  if (block.used == block.bytes.size() || block.generation != generation) {
    if (RAND_bytes(block.bytes.data(), static_cast<int>(block.bytes.size())) != 1)
      throw std::runtime_error("RAND_bytes failed");
    block.used = 0;
    block.generation = generation;
  }
  const unsigned char* bytes = block.bytes.data() + block.used;
  block.used += kIdBytes;
  return bytes;
}

}  // namespace

void make_job_id(std::string& id) {
  const unsigned char* bytes = next_id_bytes();
  static constexpr char kDigits[] = "0123456789abcdef";
  id.resize(2 * kIdBytes);
  for (std::size_t i = 0; i < kIdBytes; ++i) {
    id[2 * i] = kDigits[bytes[i] >> 4];
    id[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
}

std::optional<IdKey> next_job_id_key() {
  const IdBlock& block = id_block();
  if (block.used == block.bytes.size() || block.generation != fork_generation.load(std::memory_order_relaxed))
    return std::nullopt;  // the next id draws a new block first
  const unsigned char* bytes = block.bytes.data() + block.used;
  IdKey key;
  for (std::size_t i = 0; i < kIdBytes / 2; ++i) {
    key.hi = (key.hi << 8) | bytes[i];
    key.lo = (key.lo << 8) | bytes[kIdBytes / 2 + i];
  }
  return key;
}

std::string make_job_id() {
  std::string id;
  make_job_id(id);
  return id;
}

}  // namespace jobd::jobs
