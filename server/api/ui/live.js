// The page's live data, shared by every view and kept while views come and go:
// - one /v1/events stream: job state changes, handed to the views in batches, at most once per
//   animation frame (at 1,000 events/s a view renders ~17 events per frame, not 1,000 times a
//   second); what arrives while the tab is hidden (no frames) is flushed by a timer instead,
//   and the queue is capped, so memory stays bounded whatever the rate;
// - /metrics scraped every 2 s into five minutes of history (rates and quantiles);
// - what /metrics does not show, derived from the events this page has seen: the process
//   workers by pid and the subprocesses running now.
import { problemOf, request } from './api.js';
import { byLabel, histogram, histogramDelta, parseMetrics, quantile, sum } from './prom.js';
import { openEventStream } from './sse.js';
import { FINAL_STATES } from './dom.js';

const MAX_PENDING_EVENTS = 5000; // beyond, the oldest undelivered events are dropped (counted)
const HIDDEN_FLUSH_MS = 500;
export const SCRAPE_MS = 2000;
export const HISTORY_POINTS = 150; // five minutes of 2 s scrapes
const QUANTILE_WINDOW = 5; // quantiles over the last 5 scrapes (10 s): steadier than one interval
const MAX_WORKERS_TRACKED = 64;
const MAX_SUBPROCESSES_TRACKED = 200;

// Calls flush(items) once per animation frame with what push() collected since the last one.
export function frameBatcher(flush, cap = MAX_PENDING_EVENTS) {
  let items = [];
  let scheduled = false;
  let lost = 0;
  const run = () => {
    scheduled = false;
    const batch = items;
    items = [];
    flush(batch, lost);
    lost = 0;
  };
  return (item) => {
    items.push(item);
    if (items.length > cap) {
      lost += items.length - cap;
      items.splice(0, items.length - cap);
    }
    if (scheduled) return;
    scheduled = true;
    if (document.hidden) setTimeout(run, HIDDEN_FLUSH_MS);
    else requestAnimationFrame(run);
  };
}

// --- The event stream ------------------------------------------------------------------------

export const stream = { status: 'connecting', received: 0, dropped: 0, rate: 0 };
const eventListeners = new Set();
const statusListeners = new Set();

// fn(records, {dropped}) once per frame; records are state events' data (job records + `at`).
export function onJobEvents(fn) {
  eventListeners.add(fn);
  return () => eventListeners.delete(fn);
}
export function onStreamStatus(fn) {
  statusListeners.add(fn);
  fn(stream);
  return () => statusListeners.delete(fn);
}
function setStatus(status) {
  stream.status = status;
  for (const fn of statusListeners) fn(stream);
}

export const workers = new Map(); // pid -> {pid, jobs, current, lastSeen}
export const subprocesses = new Map(); // job id -> {id, kind, pid, started_at}

function track(record) {
  if (record.executor === 'process' && record.worker_pid) {
    const worker = workers.get(record.worker_pid) ?? { pid: record.worker_pid, jobs: 0, current: null };
    workers.delete(record.worker_pid); // re-insert: the Map's order is least recently seen first
    worker.lastSeen = record.at;
    if (record.state === 'running') worker.current = record.id;
    if (FINAL_STATES.has(record.state)) {
      worker.jobs += 1;
      if (worker.current === record.id) worker.current = null;
    }
    workers.set(record.worker_pid, worker);
    if (workers.size > MAX_WORKERS_TRACKED) workers.delete(workers.keys().next().value);
  }
  if (record.executor === 'subprocess') {
    if (FINAL_STATES.has(record.state)) subprocesses.delete(record.id);
    else if (record.state === 'running' && subprocesses.size < MAX_SUBPROCESSES_TRACKED) {
      subprocesses.set(record.id, {
        id: record.id,
        kind: record.kind,
        pid: record.pid,
        started_at: record.started_at,
      });
    }
  }
}

const deliver = frameBatcher((records, lost) => {
  stream.dropped += lost;
  for (const fn of eventListeners) fn(records, { dropped: lost });
});

let counted = 0;
setInterval(() => {
  stream.rate = counted;
  counted = 0;
  for (const fn of statusListeners) fn(stream);
}, 1000);

export function startEventStream() {
  openEventStream('/v1/events', {
    onOpen: () => setStatus('live'),
    onDown: () => setStatus('reconnecting'),
    onFail: (problem) => setStatus(`events refused: ${problem.message}`),
    onEvent: ({ event, data }) => {
      ++stream.received;
      ++counted;
      if (event === 'dropped') {
        // jobd dropped events for this page (it read too slowly): views refetch what they show.
        const { count } = JSON.parse(data);
        stream.dropped += count;
        for (const fn of eventListeners) fn([], { dropped: count });
        return;
      }
      if (event !== 'state') return;
      const record = JSON.parse(data);
      track(record);
      deliver(record);
    },
  });
}

// --- Metrics ---------------------------------------------------------------------------------

export const metrics = {
  state: 'loading', // loading | ok | disabled (--no-metrics) | error
  error: '',
  latest: null, // the last parsed scrape: Map(name -> samples)
  history: {
    t: [],
    finished: [],
    submitted: [],
    runP50: [],
    runP99: [],
    waitP99: [],
    lagP50: [],
    lagP99: [],
  },
};
const metricListeners = new Set();
export function onMetrics(fn) {
  metricListeners.add(fn);
  fn(metrics);
  return () => metricListeners.delete(fn);
}

const recent = []; // the last QUANTILE_WINDOW + 1 scrapes: {t, finished, submitted, run, wait, lag}

function record(parsed, t) {
  const point = {
    t,
    finished: sum(parsed, 'jobd_jobs_finished_total'),
    submitted: sum(parsed, 'jobd_jobs_submitted_total'),
    run: histogram(parsed, 'jobd_job_run_seconds'),
    wait: histogram(parsed, 'jobd_job_queue_wait_seconds'),
    lag: histogram(parsed, 'jobd_event_loop_lag_seconds'),
  };
  recent.push(point);
  if (recent.length > QUANTILE_WINDOW + 1) recent.shift();
  if (recent.length < 2) return;
  const previous = recent[recent.length - 2];
  const oldest = recent[0];
  const seconds = (t - previous.t) / 1000;
  const rate = (now, before) => (now >= before && seconds > 0 ? (now - before) / seconds : 0);
  const ms = (q, name) => quantile(q, histogramDelta(point[name], oldest[name])) * 1000;
  const h = metrics.history;
  const push = (key, value) => {
    h[key].push(Number.isFinite(value) ? value : null);
    if (h[key].length > HISTORY_POINTS) h[key].shift();
  };
  push('t', t / 1000);
  push('finished', rate(point.finished, previous.finished));
  push('submitted', rate(point.submitted, previous.submitted));
  push('runP50', ms(0.5, 'run'));
  push('runP99', ms(0.99, 'run'));
  push('waitP99', ms(0.99, 'wait'));
  push('lagP50', ms(0.5, 'lag'));
  push('lagP99', ms(0.99, 'lag'));
}

async function scrape() {
  try {
    const response = await request('GET', '/metrics');
    if (response.status === 404) {
      metrics.state = 'disabled';
      return false; // jobd runs with --no-metrics: nothing to scrape until it restarts
    }
    if (!response.ok) throw await problemOf(response);
    const parsed = parseMetrics(await response.text());
    metrics.latest = parsed;
    metrics.state = 'ok';
    metrics.error = '';
    record(parsed, Date.now());
  } catch (error) {
    metrics.state = 'error';
    metrics.error = error.message;
  } finally {
    for (const fn of metricListeners) fn(metrics);
  }
  return true;
}

export function startMetrics() {
  const loop = async () => {
    if (await scrape()) setTimeout(loop, SCRAPE_MS);
  };
  loop();
}

// Convenience readers of the latest scrape for the views.
export const latest = {
  sum: (name, filter) => (metrics.latest ? sum(metrics.latest, name, filter) : NaN),
  byLabel: (name, label, filter) =>
    metrics.latest ? byLabel(metrics.latest, name, label, filter) : new Map(),
  quantileMs: (q, name) => {
    if (recent.length < 2) return NaN;
    const last = recent[recent.length - 1][name];
    return quantile(q, histogramDelta(last, recent[0][name])) * 1000;
  },
};
