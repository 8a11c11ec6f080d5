// Reading jobd's /metrics (Prometheus text format 0.0.4) in the browser: samples by metric
// name, sums over label sets, and quantiles of histograms computed as Prometheus'
// histogram_quantile() does (linear interpolation inside the bucket), over the difference of
// two scrapes, so that a chart shows the last interval, not the whole uptime.

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

// text -> Map(name -> [{labels, value}])
export function parseMetrics(text) {
  const metrics = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    let name;
    let labels = {};
    let rest;
    if (brace >= 0) {
      const close = line.lastIndexOf('}');
      name = line.slice(0, brace);
      for (const [, key, value] of line.slice(brace + 1, close).matchAll(LABEL)) {
        labels[key] = value.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      }
      rest = line.slice(close + 1);
    } else {
      const space = line.indexOf(' ');
      name = line.slice(0, space);
      rest = line.slice(space);
    }
    const value = parseValue(rest.trim().split(' ')[0]);
    if (!metrics.has(name)) metrics.set(name, []);
    metrics.get(name).push({ labels, value });
  }
  return metrics;
}

function parseValue(text) {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

const matches = (labels, filter) => Object.entries(filter).every(([k, v]) => labels[k] === v);

// Sum of a metric's samples whose labels include `filter`.
export function sum(metrics, name, filter = {}) {
  let total = 0;
  for (const sample of metrics.get(name) ?? []) {
    if (matches(sample.labels, filter)) total += sample.value;
  }
  return total;
}

// The samples of `name` grouped by one label: Map(label value -> sum).
export function byLabel(metrics, name, label, filter = {}) {
  const groups = new Map();
  for (const sample of metrics.get(name) ?? []) {
    if (!matches(sample.labels, filter)) continue;
    const key = sample.labels[label] ?? '';
    groups.set(key, (groups.get(key) ?? 0) + sample.value);
  }
  return groups;
}

// A histogram summed over every label set (all kinds, executors): [{le, count}] sorted by le,
// cumulative as exposed. Series with different bounds merge by bound.
export function histogram(metrics, name, filter = {}) {
  const buckets = new Map();
  for (const sample of metrics.get(`${name}_bucket`) ?? []) {
    if (!matches(sample.labels, filter)) continue;
    const le = parseValue(sample.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + sample.value);
  }
  return [...buckets.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

// newer - older, bucket by bucket (a counter reset, i.e. a restarted jobd, gives newer).
export function histogramDelta(newer, older) {
  if (!older) return newer;
  const before = new Map(older.map((b) => [b.le, b.count]));
  const delta = newer.map((b) => ({ le: b.le, count: b.count - (before.get(b.le) ?? 0) }));
  return delta.some((b) => b.count < 0) ? newer : delta;
}

// The q-quantile (0..1) of a cumulative histogram; NaN when it holds no observation.
export function quantile(q, buckets) {
  if (buckets.length === 0) return NaN;
  const total = buckets[buckets.length - 1].count;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let previousLe = 0;
  let previousCount = 0;
  for (const { le, count } of buckets) {
    if (count >= rank) {
      // The +Inf bucket has no upper bound: answer the highest finite one, as Prometheus does.
      if (le === Infinity) return previousLe;
      const inBucket = count - previousCount;
      if (inBucket <= 0) return le;
      return previousLe + (le - previousLe) * ((rank - previousCount) / inBucket);
    }
    previousLe = le;
    previousCount = count;
  }
  return previousLe;
}
