// The contract test's own test: validate.mjs must pass responses that fit proto/openapi.yaml and
// fail each kind of drift, naming it, so that a validator that accepts everything cannot pass
// for a green contract test. Run: node --test tests/contract/validate_test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const spec = path.join(here, '../../proto/openapi.yaml');
const id = '0123456789abcdef0123456789abcdef';

function run(records) {
  const dir = mkdtempSync(path.join(tmpdir(), 'jobd-contract-'));
  if (records.length) {
    writeFileSync(path.join(dir, 'responses-1.jsonl'), records.map((r) => JSON.stringify(r) + '\n').join(''));
  }
  const validator = path.join(here, 'validate.mjs');
  const result = spawnSync(process.execPath, [validator, spec, dir], { encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

function response(method, target, status, headers, body) {
  return { test: 'Self.Test', method, target, status, headers, body, complete: true };
}

const json = (extra = {}) => ({ 'content-type': 'application/json', ...extra });
const problemJson = (extra = {}) => ({ 'content-type': 'application/problem+json', ...extra });
const job = {
  id,
  kind: 'echo',
  executor: 'loop',
  state: 'succeeded',
  params: {},
  created_at: '2026-11-28T06:08:30.968Z',
  started_at: '2026-11-28T06:08:30.968Z',
  finished_at: '2026-11-28T06:08:30.969Z',
  timeout_ms: 300000,
  max_attempts: 1,
  attempt: 1,
  result: {},
};
const problem = (type, title, status) => JSON.stringify({ type, title, status, detail: 'x' });
const sse = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };
const dropped = 'event: dropped\ndata: {"count":2}\n\n';
const stateEvent = (eventId, fields = {}) =>
  `id: ${eventId}\nevent: state\ndata: ${JSON.stringify({ ...job, at: job.created_at, ...fields })}\n\n`;

const good = [
  response('GET', '/healthz', 200, json(),
           '{"status":"ok","store":{"uri":"sqlite:jobd.db","durability":"process","ok":true}}'),
  response('HEAD', '/healthz', 200, json(), ''),
  response('POST', '/v1/jobs?wait=5', 200, json({ location: `/v1/jobs/${id}` }), JSON.stringify(job)),
  response('GET', '/nope', 404, problemJson(), problem('/problems/not-found', 'No such resource', 404)),
  response('PUT', '/v1/jobs', 405, problemJson({ allow: 'GET, HEAD, POST' }),
           problem('/problems/method-not-allowed', 'Method not allowed', 405)),
  response(null, null, 400, problemJson(), problem('/problems/bad-request', 'Malformed HTTP request', 400)),
  response('GET', `/v1/jobs/${id}/events`, 200, sse,
           stateEvent(1, { state: 'queued' }) + ': keep-alive\n\n' + dropped + stateEvent(4)),
];

test('responses that fit the spec pass', () => {
  const { status, output } = run(good);
  assert.equal(status, 0, output);
  assert.match(output, /7 responses/);
});

test('an empty log fails: a broken hook must not pass', () => {
  const { status, output } = run([]);
  assert.equal(status, 1);
  assert.match(output, /no response was recorded/);
});

const drifts = {
  'an undocumented status': [response('GET', '/healthz', 418, json(), '{}'), /status 418 is not documented/],
  'a required header missing (Location)': [
    response('POST', '/v1/jobs', 202, json(), JSON.stringify({ ...job, state: 'queued' })),
    /header Location is missing/,
  ],
  'a required header missing (Retry-After)': [
    response('POST', '/v1/jobs', 429, problemJson(),
             problem('/problems/queue-full', 'Executor queue is full', 429)),
    /header Retry-After is missing/,
  ],
  'a wrong Allow': [
    response('PUT', '/v1/jobs', 405, problemJson({ allow: 'GET' }),
             problem('/problems/method-not-allowed', 'Method not allowed', 405)),
    /should list GET, HEAD, POST/,
  ],
  'a field the record does not have': [
    response('GET', `/v1/jobs/${id}`, 200, json(), JSON.stringify({ ...job, colour: 'red' })),
    /unevaluated properties/,
  ],
  'a record whose fields break its state': [
    response('GET', `/v1/jobs/${id}`, 200, json(), JSON.stringify({ ...job, state: 'failed' })),
    /must have required property 'error'/,
  ],
  'a per-executor field on another executor': [
    response('GET', `/v1/jobs/${id}`, 200, json(), JSON.stringify({ ...job, worker_pid: 7 })),
    /must NOT be valid|boolean schema is false/,
  ],
  'another content type': [
    response('GET', '/healthz', 200, { 'content-type': 'text/plain' }, 'ok'),
    /Content-Type "text\/plain" is none of/,
  ],
  'a problem type that the status does not answer': [
    response('GET', `/v1/jobs/${id}`, 404, problemJson(),
             problem('/problems/not-found', 'No such resource', 404)),
    /must be equal to constant/,
  ],
  'an event whose data breaks its schema': [
    response('GET', `/v1/jobs/${id}/events`, 200, sse,
             'id: 2\nevent: progress\ndata: {"id":"' + id + '","fraction":2,"text":""}\n\n'),
    /event 0 \(progress\) data: \/fraction must be <= 1/,
  ],
  'an unknown event': [
    response('GET', '/v1/events', 200, sse, 'event: hello\ndata: {}\n\n'),
    /must match exactly one schema in oneOf/,
  ],
  'bytes that are not HTTP answered with a routed status': [
    response(null, null, 404, problemJson(), problem('/problems/not-found', 'No such resource', 404)),
    /status 404 is not documented/,
  ],
};

// One run for all of them (each run compiles the spec's schemas): each drift is logged under its
// own test name, and must be reported under that name.
test('fails on each drift, naming the test that received it', () => {
  const records = Object.entries(drifts).map(([name, [record]]) => ({ ...record, test: `Drift.${name}` }));
  const { status, output } = run([...good, ...records]);
  assert.equal(status, 1, output);
  assert.doesNotMatch(output, /VIOLATION Self\.Test/);
  const reported = new Map();
  for (const [, name, message] of output.matchAll(/^VIOLATION Drift\.([^:]+): .*\n\s+(.*)$/gm)) {
    reported.set(name, [...(reported.get(name) ?? []), message]);
  }
  for (const [name, [, expected]] of Object.entries(drifts)) {
    const messages = reported.get(name) ?? [];
    const got = messages.join(' | ');
    assert.ok(messages.some((m) => expected.test(m)), `${name}: expected ${expected}, got ${got}`);
  }
});
