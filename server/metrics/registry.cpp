#include "metrics/registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string_view>

namespace jobd::metrics {
namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names: the same without ':'.
// The "__" prefix is reserved for Prometheus' own use, so reject it for both.
bool valid_name(std::string_view s, bool allow_colon) {
  if (s.empty() || s.substr(0, 2) == "__") return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!(is_name_start(c) || (allow_colon && c == ':') || (i > 0 && is_digit(c)))) return false;
  }
  return true;
}

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("jobd::metrics: " + what); }

// Label values escape \, " and newline; HELP text only \ and newline.
void append_escaped(std::string& out, std::string_view s, bool is_label_value) {
  for (const char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '"': out += is_label_value ? "\\\"" : "\""; break;
      default: out += c;
    }
  }
}

void append_value(std::string& out, double v) { out += format_value(v); }

void append_value(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// One line: <name><suffix>{<labels>[,<extra>]} <value>
template <class V>
void append_sample(std::string& out, std::string_view name, std::string_view suffix, std::string_view labels,
                   std::string_view extra, V value) {
  out += name;
  out += suffix;
  if (!labels.empty() || !extra.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !extra.empty()) out += ',';
    out += extra;
    out += '}';
  }
  out += ' ';
  append_value(out, value);
  out += '\n';
}

// Per child type: append its samples, return whether anything was written.
bool write_samples(std::string& out, const std::string& name, const std::string& labels, const Counter& c) {
  append_sample(out, name, "", labels, "", c.value());
  return true;
}

bool write_samples(std::string& out, const std::string& name, const std::string& labels, const Gauge& g) {
  append_sample(out, name, "", labels, "", g.value());
  return true;
}

bool write_samples(std::string& out, const std::string& name, const std::string& labels, const Callback& cb) {
  if (!cb.is_set()) return false;
  append_sample(out, name, "", labels, "", cb.value());
  return true;
}

bool write_samples(std::string& out, const std::string& name, const std::string& labels, const Histogram& h) {
  // Snapshot once so _count is exactly the +Inf bucket even while observing.
  const std::vector<std::uint64_t> cum = h.cumulative_counts();
  const std::vector<double>& bounds = h.bounds();
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    const std::string le =
        "le=\"" + (i < bounds.size() ? format_value(bounds[i]) : std::string("+Inf")) + "\"";
    append_sample(out, name, "_bucket", labels, le, cum[i]);
  }
  append_sample(out, name, "_sum", labels, "", h.sum());
  append_sample(out, name, "_count", labels, "", cum.back());
  return true;
}

}  // namespace

// ---------------------------------------------------------------- values

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return "0";  // also turns -0 into 0
  char buf[64];
  std::to_chars_result r;
  // Below 2^53 every integer is exact, so print it plainly; to_chars' shortest
  // form would pick "1e+06" for a million.
  if (std::trunc(v) == v && std::fabs(v) < 9007199254740992.0) {
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v);  // shortest that round-trips
  }
  return std::string(buf, r.ptr);
}

std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
  if (!(start > 0) || !std::isfinite(start) || !(factor > 1) || count == 0)
    fail("exponential_buckets needs start > 0, factor > 1, count > 0");
  std::vector<double> b;
  b.reserve(count);
  for (double x = start; b.size() < count; x *= factor) b.push_back(x);
  return b;
}

std::vector<double> linear_buckets(double start, double width, std::size_t count) {
  if (!std::isfinite(start) || !(width > 0) || count == 0)
    fail("linear_buckets needs finite start, width > 0, count > 0");
  std::vector<double> b;
  b.reserve(count);
  // start + i*width rather than repeated addition, so errors do not accumulate.
  for (std::size_t i = 0; i < count; ++i) b.push_back(start + static_cast<double>(i) * width);
  return b;
}

// ---------------------------------------------------------------- Histogram

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_->size() + 1)) {}

std::vector<std::uint64_t> Histogram::cumulative_counts() const {
  std::vector<std::uint64_t> cum(bounds_->size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < cum.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    cum[i] = running;
  }
  return cum;
}

std::uint64_t Histogram::count() const noexcept {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i <= bounds_->size(); ++i) n += buckets_[i].load(std::memory_order_relaxed);
  return n;
}

// ---------------------------------------------------------------- families

namespace detail {

FamilyBase::FamilyBase(std::string name, std::string help, std::vector<std::string> label_names,
                       const char* type)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), type_(type) {
  if (!valid_name(name_, /*allow_colon=*/true)) fail("invalid metric name \"" + name_ + "\"");
  for (std::size_t i = 0; i < label_names_.size(); ++i) {
    const std::string& l = label_names_[i];
    if (!valid_name(l, /*allow_colon=*/false)) fail("invalid label name \"" + l + "\" for " + name_);
    for (std::size_t j = 0; j < i; ++j)
      if (label_names_[j] == l) fail("duplicate label name \"" + l + "\" for " + name_);
  }
}

std::string FamilyBase::render_labels(const LabelValues& values) const {
  if (values.size() != label_names_.size())
    fail(name_ + " takes " + std::to_string(label_names_.size()) + " label values, got " +
         std::to_string(values.size()));
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += label_names_[i];
    out += "=\"";
    append_escaped(out, values[i], /*is_label_value=*/true);
    out += '"';
  }
  return out;
}

void FamilyBase::write_header(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  append_escaped(out, help_, /*is_label_value=*/false);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_;
  out += '\n';
}

}  // namespace detail

template <class Child>
Family<Child>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                      const char* type, std::function<std::unique_ptr<Child>()> make_child)
    : FamilyBase(std::move(name), std::move(help), std::move(label_names), type),
      make_child_(std::move(make_child)) {}

template <class Child>
Child& Family<Child>::with(const LabelValues& values) {
  if (auto it = children_.find(values); it != children_.end()) return *it->second.child;
  std::string rendered = render_labels(values);  // throws on wrong arity
  auto child = make_child_();
  Child& ref = *child;
  children_.emplace(values, Entry{std::move(rendered), std::move(child)});
  return ref;
}

template <class Child>
void Family<Child>::expose(std::string& out) const {
  const std::size_t start = out.size();
  write_header(out);
  bool any = false;
  for (const auto& [values, entry] : children_)
    any = write_samples(out, name_, entry.labels, *entry.child) || any;
  // A family with nothing to show is left out entirely, as the Go client does.
  if (!any) out.resize(start);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;
template class Family<Callback>;

// ---------------------------------------------------------------- Registry

Registry::~Registry() = default;

template <class Child>
Family<Child>& Registry::add(std::string name, std::string help, std::vector<std::string> label_names,
                             const char* type, const std::vector<std::string>& series_suffixes,
                             std::function<std::unique_ptr<Child>()> make_child) {
  // The constructor validates the names before anything is registered.
  std::unique_ptr<Family<Child>> family(new Family<Child>(
      std::move(name), std::move(help), std::move(label_names), type, std::move(make_child)));
  const std::string& n = family->name();

  // Reject the family name or any series it emits (histogram: _bucket, _sum,
  // _count) colliding with what is already registered, in either direction.
  std::vector<std::string> series{n};
  for (const auto& s : series_suffixes) series.push_back(n + s);
  const auto clash = std::find_if(series.begin(), series.end(),
                                  [this](const std::string& s) { return series_names_.count(s) > 0; });
  if (clash != series.end()) fail("\"" + *clash + "\" is already registered (registering " + n + ")");
  series_names_.insert(series.begin(), series.end());

  Family<Child>& ref = *family;
  families_.emplace(n, std::move(family));
  // An unlabelled metric has exactly one child; create it now so it is
  // exposed (as 0) before its first update, as scrapers expect.
  if (ref.label_names().empty()) ref.with();
  return ref;
}

Family<Counter>& Registry::counter(std::string name, std::string help, std::vector<std::string> label_names) {
  return add<Counter>(std::move(name), std::move(help), std::move(label_names), "counter", {},
                      [] { return std::make_unique<Counter>(); });
}

Family<Gauge>& Registry::gauge(std::string name, std::string help, std::vector<std::string> label_names) {
  return add<Gauge>(std::move(name), std::move(help), std::move(label_names), "gauge", {},
                    [] { return std::make_unique<Gauge>(); });
}

Family<Histogram>& Registry::histogram(std::string name, std::string help, std::vector<double> bounds,
                                       std::vector<std::string> label_names) {
  if (!bounds.empty() && bounds.back() == std::numeric_limits<double>::infinity()) bounds.pop_back();
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
      fail("histogram " + name + " needs strictly increasing finite bucket bounds");
  }
  for (const auto& l : label_names)
    if (l == "le") fail("histogram " + name + " cannot use the label name \"le\"");
  auto shared = std::make_shared<const std::vector<double>>(std::move(bounds));
  return add<Histogram>(std::move(name), std::move(help), std::move(label_names), "histogram",
                        {"_bucket", "_sum", "_count"},
                        [shared] { return std::make_unique<Histogram>(shared); });
}

Family<Callback>& Registry::callback_gauge(std::string name, std::string help,
                                           std::vector<std::string> label_names) {
  return add<Callback>(std::move(name), std::move(help), std::move(label_names), "gauge", {},
                       [] { return std::make_unique<Callback>(); });
}

Family<Callback>& Registry::callback_counter(std::string name, std::string help,
                                             std::vector<std::string> label_names) {
  return add<Callback>(std::move(name), std::move(help), std::move(label_names), "counter", {},
                       [] { return std::make_unique<Callback>(); });
}

std::string Registry::expose() const {
  std::string out;
  out.reserve(256 * families_.size());
  for (const auto& [name, family] : families_) family->expose(out);
  return out;
}

}  // namespace jobd::metrics
