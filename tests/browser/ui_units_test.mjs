// The dashboard's pure modules under Node's test runner (no browser): the Prometheus text
// parser and histogram quantiles (prom.js), and the SSE framing (sse.js).
//
//   node --test tests/browser/ui_units_test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { byLabel, histogram, histogramDelta, parseMetrics, quantile, sum } from '../../server/api/ui/prom.js';
import { parseEvent, splitEvents } from '../../server/api/ui/sse.js';

const EXPOSITION = `# HELP jobd_jobs_finished_total Jobs finished
# TYPE jobd_jobs_finished_total counter
jobd_jobs_finished_total{kind="echo",executor="loop",state="succeeded"} 7
jobd_jobs_finished_total{kind="primes",executor="thread",state="succeeded"} 3
jobd_jobs_finished_total{kind="primes",executor="thread",state="failed"} 1
jobd_http_connections 4
jobd_job_run_seconds_bucket{kind="echo",le="0.001"} 6
jobd_job_run_seconds_bucket{kind="echo",le="0.01"} 7
jobd_job_run_seconds_bucket{kind="echo",le="+Inf"} 7
jobd_job_run_seconds_bucket{kind="primes",le="0.001"} 0
jobd_job_run_seconds_bucket{kind="primes",le="0.01"} 2
jobd_job_run_seconds_bucket{kind="primes",le="+Inf"} 4
jobd_job_run_seconds_sum{kind="primes"} 1.5
jobd_odd{path="a \\"quoted\\" \\\\ value"} 1
`;

test('sums and groups samples by label', () => {
  const metrics = parseMetrics(EXPOSITION);
  assert.equal(sum(metrics, 'jobd_jobs_finished_total'), 11);
  assert.equal(sum(metrics, 'jobd_jobs_finished_total', { state: 'succeeded' }), 10);
  assert.equal(sum(metrics, 'jobd_http_connections'), 4);
  assert.deepEqual(
    [...byLabel(metrics, 'jobd_jobs_finished_total', 'kind')],
    [
      ['echo', 7],
      ['primes', 4],
    ],
  );
  assert.equal(metrics.get('jobd_odd')[0].labels.path, 'a "quoted" \\ value');
});

test('merges histograms over label sets and interpolates quantiles as Prometheus does', () => {
  const buckets = histogram(parseMetrics(EXPOSITION), 'jobd_job_run_seconds');
  assert.deepEqual(buckets, [
    { le: 0.001, count: 6 },
    { le: 0.01, count: 9 },
    { le: Infinity, count: 11 },
  ]);
  assert.equal(quantile(0.5, buckets), 0.001 * (5.5 / 6));
  assert.ok(Math.abs(quantile(0.75, buckets) - (0.001 + 0.009 * ((8.25 - 6) / 3))) < 1e-12);
  assert.equal(quantile(0.99, buckets), 0.01, 'the +Inf bucket answers the highest finite bound');
  assert.ok(Number.isNaN(quantile(0.5, [{ le: 1, count: 0 }])), 'no observation, no quantile');
});

test('a histogram delta is the interval between two scrapes; a reset starts over', () => {
  const older = [
    { le: 1, count: 5 },
    { le: Infinity, count: 6 },
  ];
  const newer = [
    { le: 1, count: 8 },
    { le: Infinity, count: 10 },
  ];
  assert.deepEqual(histogramDelta(newer, older), [
    { le: 1, count: 3 },
    { le: Infinity, count: 4 },
  ]);
  assert.deepEqual(histogramDelta(older, newer), older, 'jobd restarted: the counters went down');
});

test('splits an SSE body into whole events and keeps the partial one', () => {
  const [blocks, rest] = splitEvents('id: 1\nevent: state\ndata: {"a":1}\n\n: keep-alive\n\nevent: progr');
  assert.deepEqual(blocks, ['id: 1\nevent: state\ndata: {"a":1}', ': keep-alive']);
  assert.equal(rest, 'event: progr');
  assert.deepEqual(parseEvent(blocks[0]), { event: 'state', id: '1', data: '{"a":1}' });
  assert.equal(parseEvent(blocks[1]), null, 'a comment is no event');
  assert.deepEqual(parseEvent('data: one\ndata:two'), { event: 'message', id: undefined, data: 'one\ntwo' });
});
