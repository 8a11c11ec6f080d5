// One job: its record, its attempts (when the record has them), a live progress bar and output
// lines from GET /v1/jobs/{id}/events (which replays what jobd still holds, then follows the job
// until its final state), and a cancel button (DELETE /v1/jobs/{id}).
import { call, getJson } from '../api.js';
import {
  elapsedMs,
  FINAL_STATES,
  fill,
  formatDuration,
  formatTime,
  h,
  json,
  setText,
  stateBadge,
} from '../dom.js';
import { frameBatcher } from '../live.js';
import { openEventStream } from '../sse.js';

const MAX_OUTPUT_LINES = 1000; // older lines leave the page; the record keeps what jobd captured

const FIELDS = [
  ['executor', (r) => r.executor],
  ['created', (r) => formatTime(r.created_at)],
  ['started', (r) => formatTime(r.started_at)],
  ['finished', (r) => formatTime(r.finished_at)],
  ['queued for', (r) => (r.started_at ? formatDuration(elapsedMs(r.created_at, r.started_at)) : undefined)],
  ['run time', (r) => (r.started_at ? formatDuration(elapsedMs(r.started_at, r.finished_at)) : undefined)],
  ['timeout', (r) => (r.timeout_ms ? formatDuration(r.timeout_ms) : undefined)],
  ['run at', (r) => (r.run_at ? formatTime(r.run_at) : undefined)],
  ['attempt', (r) => (r.max_attempts > 1 ? `${r.attempt} of ${r.max_attempts}` : undefined)],
  ['worker pid', (r) => r.worker_pid],
  ['pid', (r) => r.pid],
  ['exit code', (r) => r.exit_code],
  ['signal', (r) => r.signal],
  [
    'wall / CPU',
    (r) =>
      r.duration_ms !== undefined
        ? `${formatDuration(r.duration_ms)} / ${formatDuration(r.cpu_ms)}`
        : undefined,
  ],
  ['idempotency key', (r) => r.idempotency_key],
];

// Attempts (durable jobs): a table of whatever fields the attempts carry, in first-seen order.
function attemptsTable(attempts) {
  const columns = [];
  for (const attempt of attempts)
    for (const key of Object.keys(attempt)) if (!columns.includes(key)) columns.push(key);
  const cell = (value) =>
    value === undefined ? '–' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return h(
    'table.data',
    { id: 'attempts' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        columns.map((c) => h('th', null, c.replace(/_/g, ' '))),
      ),
    ),
    h(
      'tbody',
      null,
      attempts.map((a) =>
        h(
          'tr',
          null,
          columns.map((c) => h('td', null, cell(a[c]))),
        ),
      ),
    ),
  );
}

export function jobView(root, id) {
  let record = null;
  const title = h('h1.mono', null, id);
  const badge = h('span', { id: 'job-state' });
  const cancel = h('button.danger', { type: 'button', id: 'cancel-job', disabled: true }, 'Cancel job');
  const message = h('p.notice', { hidden: true, id: 'job-message' });
  const progress = h('progress', { id: 'job-progress', max: 1, value: 0 });
  const progressText = h('span.muted', { id: 'job-progress-text' });
  const progressRow = h('div.progress', { hidden: true }, progress, progressText);
  const facts = h('dl.facts', { id: 'job-facts' });
  const attempts = h('section', { hidden: true }, h('h2', null, 'Attempts'));
  const outcome = h('section', { id: 'job-outcome' });
  const params = h('pre.json', { id: 'job-params' });
  const output = h('pre.output', { id: 'job-output' });
  const outputNote = h('p.muted', { hidden: true });
  const outputSection = h('section', { hidden: true }, h('h2', null, 'Output'), outputNote, output);
  let linesDropped = 0;
  let eventsDropped = 0;

  fill(
    root,
    h('p', null, h('a', { href: '#/jobs' }, '← Jobs')),
    h('div.job-head', title, badge, h('span.spacer'), cancel),
    message,
    progressRow,
    h(
      'section.grid',
      h('div.panel', h('h2', null, 'Record'), facts),
      h('div.panel', h('h2', null, 'Params'), params),
    ),
    outcome,
    attempts,
    outputSection,
  );

  function render() {
    fill(badge, stateBadge(record.state));
    setText(title, `${record.kind} ${record.id}`);
    cancel.disabled = FINAL_STATES.has(record.state);
    fill(
      facts,
      FIELDS.map(([label, get]) => [label, get(record)])
        .filter(([, v]) => v !== undefined && v !== '–')
        .map(([k, v]) => [h('dt', null, k), h('dd', null, String(v))]),
    );
    setText(params, json(record.params));
    const parts = [];
    if (record.result !== undefined)
      parts.push(h('h2', null, 'Result'), h('pre.json', { id: 'job-result' }, json(record.result)));
    if (record.error)
      parts.push(
        h('h2', null, 'Error'),
        h('p.error', { id: 'job-error' }, `${record.error.type}: ${record.error.message}`),
      );
    for (const stream of ['stdout', 'stderr']) {
      const text =
        record[stream] ??
        (record[`${stream}_base64`] !== undefined ? `(base64) ${record[`${stream}_base64`]}` : undefined);
      if (text === undefined) continue;
      const cut = record.truncated?.[stream] ? ' (truncated)' : '';
      parts.push(
        h(
          'details',
          { open: text.length > 0 && text.length < 4096 },
          h('summary', null, `captured ${stream}${cut}, ${text.length} characters`),
          h('pre.output', null, text),
        ),
      );
    }
    fill(outcome, parts);
    if (Array.isArray(record.attempts) && record.attempts.length) {
      attempts.hidden = false;
      fill(attempts, h('h2', null, `Attempts (${record.attempts.length})`), attemptsTable(record.attempts));
    }
    if (FINAL_STATES.has(record.state)) progressRow.hidden = true;
    else if (record.progress !== undefined) setProgress(record.progress, '');
  }

  function setProgress(fraction, text) {
    progressRow.hidden = false;
    progress.value = fraction;
    setText(progressText, `${Math.round(fraction * 100)} %${text ? ` · ${text}` : ''}`);
  }

  // Output lines and progress arrive in bursts: applied once per frame.
  const apply = frameBatcher((events) => {
    const fragment = document.createDocumentFragment();
    let lastProgress = null;
    for (const event of events) {
      if (event.event === 'progress') lastProgress = event.data;
      else if (event.event === 'state') {
        const { at, ...rest } = event.data;
        record = rest;
      } else if (event.event === 'stdout' || event.event === 'stderr') {
        fragment.append(h(`span.${event.event}`, null, `${event.data.line}\n`));
      } else if (event.event === 'dropped') {
        // This page read too slowly (or resumed past what jobd keeps): say so, then go on.
        eventsDropped += event.data.count;
        showMessage(`${eventsDropped} events of this job were not received (progress or output lines).`);
      }
    }
    if (fragment.childNodes.length) {
      outputSection.hidden = false;
      output.append(fragment);
      while (output.childNodes.length > MAX_OUTPUT_LINES) {
        output.firstChild.remove();
        ++linesDropped;
      }
      outputNote.hidden = linesDropped === 0;
      setText(outputNote, `${linesDropped} earlier lines not shown (the record keeps what jobd captured).`);
      output.scrollTop = output.scrollHeight;
    }
    if (record) render();
    if (lastProgress && !FINAL_STATES.has(record?.state))
      setProgress(lastProgress.fraction, lastProgress.text);
  });

  let events = null;
  function follow() {
    events = openEventStream(`/v1/jobs/${encodeURIComponent(id)}/events`, {
      onEvent: ({ event, data }) => apply({ event, data: JSON.parse(data) }),
      onEnd: () => {},
      onFail: () => {}, // evicted meanwhile: the record shown is the last one
    });
  }

  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    try {
      const { status, body } = await call('DELETE', `/v1/jobs/${encodeURIComponent(id)}`);
      record = body;
      render();
      showMessage(status === 202 ? 'Cancelling: the executor is stopping the job.' : 'Cancelled.');
    } catch (problem) {
      showMessage(
        problem.type === '/problems/job-finished'
          ? 'The job had already finished.'
          : `Cannot cancel: ${problem.message}`,
      );
      cancel.disabled = FINAL_STATES.has(record?.state);
    }
  });

  function showMessage(text) {
    message.hidden = false;
    setText(message, text);
  }

  getJson(`/v1/jobs/${encodeURIComponent(id)}`).then(
    (body) => {
      record = body;
      render();
      follow();
    },
    (problem) => {
      setText(title, id);
      showMessage(
        problem.status === 404
          ? 'No job with this id: it never existed, or jobd no longer keeps it (--retention, --max-jobs).'
          : `Cannot read the job: ${problem.message}`,
      );
    },
  );

  // The run time of a running job grows without events.
  const ticker = setInterval(() => {
    if (record?.state === 'running') render();
  }, 1000);

  return () => {
    clearInterval(ticker);
    events?.close();
  };
}
