// Overview: jobs by state, throughput and latency over the last minutes, each executor's queue
// against its capacity, the event loop's lag, the process workers and the subprocesses.
// Everything comes from /metrics (live.js scrapes it every 2 s), except what jobd exposes
// nowhere but in job records: which worker pid ran how many jobs, and which subprocess runs now.
import { timeChart } from '../charts.js';
import { fill, formatDuration, formatNumber, formatTime, h, setText, shortId, STATES } from '../dom.js';
import { latest, metrics, onJobEvents, onMetrics, subprocesses, workers } from '../live.js';

const EXECUTORS = ['loop', 'thread', 'process', 'subprocess'];
const RESTART_CAUSES = ['crash', 'kill', 'recycle'];

function tile(key, label, title) {
  const value = h('span.tile-value', { dataset: { count: key } }, '–');
  return [h(`div.tile.state-${key}`, { title }, h('span.tile-label', null, label), value), value];
}

export function overviewView(root) {
  const tiles = {};
  const tileRow = h('section.tiles', { 'aria-label': 'Jobs by state' });
  for (const state of STATES) {
    const now = state === 'queued' || state === 'running';
    const [el, value] = tile(
      state,
      state.replace('_', ' '),
      now ? 'now, all executors' : 'since jobd started',
    );
    tiles[state] = value;
    tileRow.append(el);
  }
  const [submittedTile, submittedValue] = tile('submitted', 'submitted', 'since jobd started');
  tiles.submitted = submittedValue;
  tileRow.append(submittedTile);

  const notice = h('p.notice', { hidden: true });
  const chartRow = h('section.charts');
  const executorBody = h('tbody');
  const serverList = h('dl.facts');
  const workerSummary = h('p');
  const workerBody = h('tbody');
  const subprocessSummary = h('p');
  const subprocessBody = h('tbody');

  fill(
    root,
    h('h1', null, 'Overview'),
    notice,
    tileRow,
    chartRow,
    h(
      'section.grid',
      h(
        'div.panel',
        h('h2', null, 'Executors'),
        h(
          'table.data',
          { id: 'executors' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ['executor', 'queued', 'running', 'capacity', 'in use', 'workers'].map((c) => h('th', null, c)),
            ),
          ),
          executorBody,
        ),
      ),
      h('div.panel', h('h2', null, 'Server'), serverList),
    ),
    h(
      'section.grid',
      h(
        'div.panel',
        h('h2', null, 'Process workers'),
        workerSummary,
        h(
          'table.data',
          { id: 'workers' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ['pid', 'jobs finished', 'running now', 'last seen'].map((c) => h('th', null, c)),
            ),
          ),
          workerBody,
        ),
        h(
          'p.muted',
          null,
          'Per-worker pids and job counts are not in /metrics: they come from the job events ' +
            'this page has seen since it opened.',
        ),
      ),
      h(
        'div.panel',
        h('h2', null, 'Subprocesses'),
        subprocessSummary,
        h(
          'table.data',
          { id: 'subprocesses' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ['job', 'kind', 'pid', 'running for'].map((c) => h('th', null, c)),
            ),
          ),
          subprocessBody,
        ),
      ),
    ),
  );

  const charts = [
    timeChart(chartRow, {
      title: 'Throughput (jobs/s)',
      unit: '/s',
      history: metrics.history,
      series: [
        { key: 'finished', label: 'finished', color: '#2563eb' },
        { key: 'submitted', label: 'submitted', color: '#9ca3af' },
      ],
    }),
    timeChart(chartRow, {
      title: 'Job latency (ms, last 10 s)',
      unit: 'ms',
      history: metrics.history,
      series: [
        { key: 'runP50', label: 'run p50', color: '#16a34a' },
        { key: 'runP99', label: 'run p99', color: '#dc2626' },
        { key: 'waitP99', label: 'queue wait p99', color: '#d97706' },
      ],
    }),
    timeChart(chartRow, {
      title: 'Event-loop lag (ms)',
      unit: 'ms',
      history: metrics.history,
      series: [
        { key: 'lagP50', label: 'p50', color: '#7c3aed' },
        { key: 'lagP99', label: 'p99', color: '#db2777' },
      ],
    }),
  ];

  function renderExecutors() {
    const queued = latest.byLabel('jobd_executor_queued_jobs', 'executor');
    const running = latest.byLabel('jobd_executor_running_jobs', 'executor');
    const capacity = latest.byLabel('jobd_executor_capacity_jobs', 'executor');
    const threads = latest.byLabel('jobd_executor_workers', 'executor');
    const rows = EXECUTORS.filter((e) => capacity.has(e)).map((executor) => {
      const used = (queued.get(executor) ?? 0) + (running.get(executor) ?? 0);
      const cap = capacity.get(executor) ?? 0;
      return h(
        'tr',
        { dataset: { executor } },
        h('td', null, executor),
        h('td.num', null, formatNumber(queued.get(executor))),
        h('td.num', null, formatNumber(running.get(executor))),
        h('td.num', null, formatNumber(cap)),
        h(
          'td',
          null,
          h('meter', {
            min: 0,
            max: Math.max(cap, 1),
            value: used,
            high: cap * 0.8,
            title: `${used} of ${cap}`,
          }),
        ),
        h('td.num', null, executor === 'loop' ? '–' : formatNumber(threads.get(executor))),
      );
    });
    fill(executorBody, rows);
  }

  function renderServer() {
    const lag = (q) => formatDuration(latest.quantileMs(q, 'lag'));
    const kept = (phase) => formatNumber(latest.sum('jobd_jobs_retained', { phase }));
    const facts = [
      ['loop lag p50 / p99', `${lag(0.5)} / ${lag(0.99)}`],
      ['HTTP connections', formatNumber(latest.sum('jobd_http_connections'))],
      ['event streams open', formatNumber(latest.sum('jobd_sse_subscribers'))],
      ['jobs kept: active / finished', `${kept('active')} / ${kept('finished')}`],
    ];
    fill(
      serverList,
      facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
    );
  }

  function renderWorkers() {
    const count = latest.byLabel('jobd_executor_workers', 'executor').get('process');
    const restarts = latest.byLabel('jobd_worker_restarts_total', 'cause');
    const causes = RESTART_CAUSES.map((c) => `${c} ${formatNumber(restarts.get(c) ?? 0)}`).join(', ');
    setText(
      workerSummary,
      count === undefined
        ? 'No process executor (--workers 0).'
        : `${formatNumber(count)} workers; restarts: ${causes}.`,
    );
    const seen = [...workers.values()].reverse();
    fill(
      workerBody,
      seen.length === 0
        ? h('tr', null, h('td.muted', { colSpan: 4 }, 'No process job seen yet.'))
        : seen.map((w) =>
            h(
              'tr',
              null,
              h('td.num', null, w.pid),
              h('td.num', null, w.jobs),
              h('td', null, w.current ? h('a', { href: `#/job/${w.current}` }, shortId(w.current)) : '–'),
              h('td', null, formatTime(w.lastSeen)),
            ),
          ),
    );
  }

  function renderSubprocesses() {
    const running = latest.byLabel('jobd_executor_running_jobs', 'executor').get('subprocess');
    setText(
      subprocessSummary,
      running === undefined ? 'No subprocess kinds (--config).' : `${formatNumber(running)} running now.`,
    );
    const list = [...subprocesses.values()];
    fill(
      subprocessBody,
      list.length === 0
        ? h('tr', null, h('td.muted', { colSpan: 4 }, 'None running.'))
        : list.map((s) =>
            h(
              'tr',
              null,
              h('td', null, h('a', { href: `#/job/${s.id}` }, shortId(s.id))),
              h('td', null, s.kind),
              h('td.num', null, s.pid ?? '–'),
              h('td', null, formatDuration(Date.now() - Date.parse(s.started_at))),
            ),
          ),
    );
  }

  const offMetrics = onMetrics(() => {
    notice.hidden = metrics.state === 'ok' || metrics.state === 'loading';
    if (metrics.state === 'disabled') setText(notice, 'jobd runs with --no-metrics: no counters or charts.');
    if (metrics.state === 'error') setText(notice, `Cannot read /metrics: ${metrics.error}`);
    if (!metrics.latest) return;
    for (const state of STATES) {
      const value =
        state === 'queued'
          ? latest.sum('jobd_executor_queued_jobs')
          : state === 'running'
            ? latest.sum('jobd_executor_running_jobs')
            : latest.sum('jobd_jobs_finished_total', { state });
      setText(tiles[state], formatNumber(value));
    }
    setText(tiles.submitted, formatNumber(latest.sum('jobd_jobs_submitted_total')));
    renderExecutors();
    renderServer();
    renderWorkers();
    renderSubprocesses();
    for (const chart of charts) chart.update();
  });
  // Workers and subprocesses change with events; their tables are small, redrawn per frame.
  const offEvents = onJobEvents((records) => {
    if (records.some((r) => r.executor === 'process' || r.executor === 'subprocess')) {
      renderWorkers();
      renderSubprocesses();
    }
  });

  return () => {
    offMetrics();
    offEvents();
    for (const chart of charts) chart.destroy();
  };
}
