// Sans-I/O Prometheus metrics for jobd.
//
// A Registry owns metric families and renders them in the Prometheus text
// exposition format 0.0.4 with expose(); serving that string over HTTP is the
// server's job, not this module's. There is no global registry: whoever owns
// the server creates one and passes it to the code that registers metrics.
//
// Threading rule (jobd keeps job state and HTTP on one event-loop thread):
//  * Registration (Registry::counter/gauge/histogram/callback_*), child
//    creation (Family::with), Callback::set and Registry::expose() are not
//    synchronised. Call them only on the loop thread (or before it starts).
//  * Value updates on children -- Counter::inc, Gauge::set/inc/dec,
//    Histogram::observe -- are lock-free relaxed atomics and may be called from
//    any thread. So: look a child up once on the loop thread, cache the
//    reference, and let pool threads bump it.
//  * Families and children are never moved or destroyed before the Registry,
//    so every reference handed out stays valid for the Registry's lifetime.
//    Children are never removed (a label tuple, once used, is exposed for good),
//    so keep label values low-cardinality: routes and status codes, not job ids.
//
// Registration mistakes (invalid or duplicate names, bad buckets, wrong number
// of label values) are programmer errors and throw std::invalid_argument.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace jobd::metrics {

// Label values of one child, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

// Monotonic counter. Two cells, as in the Go client: whole increments take a
// single atomic add on an integer (the common case), fractional ones a CAS loop
// on a double. value() is their sum.
class Counter {
 public:
  void inc() noexcept { whole_.fetch_add(1, std::memory_order_relaxed); }
  // Negative and NaN increments are dropped: a counter that goes down looks
  // like a process restart to rate(), which is worse than a missed bump.
  void inc(double v) noexcept {
    if (v >= 0) fraction_.fetch_add(v, std::memory_order_relaxed);
  }
  double value() const noexcept {
    return static_cast<double>(whole_.load(std::memory_order_relaxed)) +
           fraction_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> whole_{0};
  std::atomic<double> fraction_{0.0};
};

class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1.0) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  void dec(double v = 1.0) noexcept { value_.fetch_sub(v, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Histogram with fixed bucket upper bounds. Each observation is one atomic add
// on its own (non-cumulative) bucket plus one on the sum; buckets are made
// cumulative, and _count derived from them, only at scrape time. Deriving
// _count means a scrape racing with observe() still shows _count equal to the
// +Inf bucket, which Prometheus relies on.
class Histogram {
 public:
  // Made by Family<Histogram>::with(); bounds are shared by the family's children.
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);

  // NaN is dropped: it would poison _sum for the life of the process.
  void observe(double v) noexcept {
    if (std::isnan(v)) return;
    const auto& b = *bounds_;
    // First bound >= v, i.e. the smallest bucket with v <= le; end() is +Inf.
    const auto i = static_cast<std::size_t>(std::lower_bound(b.begin(), b.end(), v) - b.begin());
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
  }

  const std::vector<double>& bounds() const noexcept { return *bounds_; }
  // Cumulative counts, one per bound plus a final +Inf entry (== count()).
  std::vector<std::uint64_t> cumulative_counts() const;
  std::uint64_t count() const noexcept;
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_->size() + 1
  std::atomic<double> sum_{0.0};
};

// Child of a callback family: the value is computed by fn at scrape time, on
// the thread calling expose(). fn must not throw. Useful for values that
// already live elsewhere (RSS, open fds, queue depths). Not set => not exposed.
class Callback {
 public:
  void set(std::function<double()> fn) { fn_ = std::move(fn); }
  bool is_set() const noexcept { return static_cast<bool>(fn_); }
  double value() const { return fn_(); }

 private:
  std::function<double()> fn_;
};

namespace detail {

// What Registry keeps and expose() walks; Family<Child> adds typed children.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const noexcept { return name_; }
  const std::vector<std::string>& label_names() const noexcept { return label_names_; }
  // Appends # HELP, # TYPE and all samples; nothing if there is no sample.
  virtual void expose(std::string& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names, const char* type);
  // Validates arity and renders `a="x",b="y"` (escaped) for a new child.
  std::string render_labels(const LabelValues& values) const;
  void write_header(std::string& out) const;

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  const char* type_;  // "counter", "gauge" or "histogram"
};

}  // namespace detail

template <class Child>
class Family final : public detail::FamilyBase {
 public:
  // The child for these label values (in label-name order), created on first
  // use. Loop thread only; cache the reference on hot paths. Unlabelled
  // families: with() or with({}). Throws std::invalid_argument on wrong arity.
  Child& with(const LabelValues& values = {});

  void expose(std::string& out) const override;

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names, const char* type,
         std::function<std::unique_ptr<Child>()> make_child);

  struct Entry {
    std::string labels;            // pre-rendered so a scrape does no escaping
    std::unique_ptr<Child> child;  // heap-allocated: address never changes
  };
  std::function<std::unique_ptr<Child>()> make_child_;
  std::map<LabelValues, Entry> children_;  // ordered => deterministic output
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;
extern template class Family<Callback>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  Registry(Registry&&) = default;  // families are heap-allocated: refs survive
  Registry& operator=(Registry&&) = default;
  ~Registry();

  Family<Counter>& counter(std::string name, std::string help, std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  // bounds: strictly increasing finite upper bounds; +Inf is implicit (a
  // trailing +Inf is accepted and dropped). "le" is not a valid label name.
  Family<Histogram>& histogram(std::string name, std::string help, std::vector<double> bounds,
                               std::vector<std::string> label_names = {});
  // Callback families: set each child's function with with(...).set(fn).
  Family<Callback>& callback_gauge(std::string name, std::string help,
                                   std::vector<std::string> label_names = {});
  Family<Callback>& callback_counter(std::string name, std::string help,
                                     std::vector<std::string> label_names = {});

  // Text exposition format 0.0.4 (Content-Type:
  // "text/plain; version=0.0.4; charset=utf-8"). Families sorted by name,
  // children by label values. Loop thread only (it walks the child maps).
  std::string expose() const;

 private:
  template <class Child>
  Family<Child>& add(std::string name, std::string help, std::vector<std::string> label_names,
                     const char* type, const std::vector<std::string>& series_suffixes,
                     std::function<std::unique_ptr<Child>()> make_child);

  std::map<std::string, std::unique_ptr<detail::FamilyBase>> families_;
  std::set<std::string> series_names_;  // every exposed name, to reject clashes
};

// count bounds: start, start*factor, start*factor^2, ... (start > 0, factor > 1).
std::vector<double> exponential_buckets(double start, double factor, std::size_t count);
// count bounds: start, start+width, ... (width > 0).
std::vector<double> linear_buckets(double start, double width, std::size_t count);

// A sample value as exposed: integral values below 2^53 as plain integers
// ("1000000", not "1e+06"), others as the shortest string that parses back to
// the same double; "+Inf", "-Inf", "NaN".
std::string format_value(double v);

// Registers Linux process metrics, read from /proc/self at scrape time:
// process_resident_memory_bytes, process_open_fds, process_cpu_seconds_total
// (counter) and process_start_time_seconds. Unreadable values expose as NaN.
// (Defined in process_metrics.cpp, the one file here that reads the operating system.)
void add_process_metrics(Registry& reg);

}  // namespace jobd::metrics
