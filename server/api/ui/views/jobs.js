// Jobs: one page of GET /v1/jobs (newest first) with its state and kind filters, paged by the
// API's cursors. The rows shown follow /v1/events: states change in place, and on the newest
// page new jobs that match the filters appear on top. At most MAX_ROWS rows are kept, however
// many jobs arrive.
import { getJson } from '../api.js';
import {
  elapsedMs,
  fill,
  formatDuration,
  formatTime,
  h,
  setText,
  shortId,
  stateBadge,
  STATES,
} from '../dom.js';
import { loadKinds } from '../kinds.js';
import { onJobEvents } from '../live.js';

const PAGE_SIZE = 50;
const MAX_ROWS = 200;
const RELOAD_AFTER_DROP_MS = 2000;
const cursorTrail = []; // cursors of the newer pages, for "Newer" (kept while the page lives)

function summary(record) {
  if (record.error) return `${record.error.type}: ${record.error.message}`;
  if (record.result !== undefined) {
    const text = JSON.stringify(record.result);
    return text.length > 80 ? `${text.slice(0, 79)}…` : text;
  }
  if (record.progress !== undefined) return `${Math.round(record.progress * 100)} %`;
  return '';
}

function runTime(record) {
  if (!record.started_at) return '–';
  return formatDuration(elapsedMs(record.started_at, record.finished_at));
}

function jobsHash(filter, cursor) {
  const query = new URLSearchParams();
  if (filter.state) query.set('state', filter.state);
  if (filter.kind) query.set('kind', filter.kind);
  if (cursor) query.set('cursor', cursor);
  const text = query.toString();
  return `#/jobs${text ? `?${text}` : ''}`;
}

export function jobsView(root, params) {
  const filter = { state: params.get('state') || '', kind: params.get('kind') || '' };
  const cursor = params.get('cursor') || '';
  const live = !cursor;
  const rows = new Map(); // id -> {record, tr, cells}
  let order = []; // ids, newest first
  let nextCursor = null;
  let trimmed = false; // rows were dropped past MAX_ROWS: nextCursor no longer follows the last row
  let reloadTimer = null;

  const stateSelect = h(
    'select',
    { id: 'filter-state', name: 'state' },
    h('option', { value: '' }, 'any state'),
    STATES.map((s) => h('option', { value: s, selected: s === filter.state }, s)),
  );
  const kindSelect = h('select', { id: 'filter-kind', name: 'kind' }, h('option', { value: '' }, 'any kind'));
  if (filter.kind) kindSelect.append(h('option', { value: filter.kind, selected: true }, filter.kind));
  const status = h('span.muted', { id: 'jobs-status' });
  const body = h('tbody');
  const newer = h('button', { type: 'button', disabled: live }, '‹ Newer');
  const older = h('button', { type: 'button', id: 'jobs-older', disabled: true }, 'Older ›');
  const newest = h('button', { type: 'button', disabled: live }, '« Newest');

  // Full records for the rows shown (their result column); summaries when only a cursor is wanted.
  const listQuery = (limit, from, fields = 'summary') => {
    const query = new URLSearchParams({ limit: String(limit), fields });
    if (filter.state) query.set('state', filter.state);
    if (filter.kind) query.set('kind', filter.kind);
    if (from) query.set('cursor', from);
    return query;
  };
  const applyFilters = () => {
    cursorTrail.length = 0;
    location.hash = jobsHash({ state: stateSelect.value, kind: kindSelect.value }, '');
  };
  stateSelect.addEventListener('change', applyFilters);
  kindSelect.addEventListener('change', applyFilters);
  newest.addEventListener('click', () => {
    cursorTrail.length = 0;
    location.hash = jobsHash(filter, '');
  });
  newer.addEventListener('click', () => {
    location.hash = jobsHash(filter, cursorTrail.pop() ?? '');
  });
  older.addEventListener('click', async () => {
    older.disabled = true;
    let after = nextCursor;
    if (trimmed) {
      // Rows shown here were dropped: ask jobd for the cursor after exactly the rows still shown.
      after = (await getJson(`/v1/jobs?${listQuery(order.length, '')}`)).next_cursor;
    }
    if (!after) return;
    cursorTrail.push(cursor);
    location.hash = jobsHash(filter, after);
  });

  fill(
    root,
    h('h1', null, 'Jobs'),
    h(
      'div.toolbar',
      h('label', null, 'State ', stateSelect),
      h('label', null, 'Kind ', kindSelect),
      status,
      h('span.spacer'),
      newest,
      newer,
      older,
    ),
    h(
      'table.data.jobs',
      { id: 'jobs-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['job', 'kind', 'executor', 'state', 'created', 'run time', 'result'].map((c) => h('th', null, c)),
        ),
      ),
      body,
    ),
  );

  loadKinds().then(
    (kinds) => {
      for (const kind of kinds) {
        if (kind.name !== filter.kind) kindSelect.append(h('option', { value: kind.name }, kind.name));
      }
    },
    () => {},
  );

  function makeRow(record) {
    const cells = {
      state: h('td'),
      started: h('td.num'),
      summary: h('td.summary'),
    };
    const tr = h(
      'tr',
      { dataset: { id: record.id } },
      h('td', null, h('a.mono', { href: `#/job/${record.id}`, title: record.id }, shortId(record.id))),
      h('td', null, record.kind),
      h('td', null, record.executor),
      cells.state,
      h('td', null, formatTime(record.created_at)),
      cells.started,
      cells.summary,
    );
    const row = { record, tr, cells, shownState: null };
    updateRow(row);
    return row;
  }

  function updateRow(row) {
    const { record, cells } = row;
    if (row.shownState !== record.state) {
      fill(cells.state, stateBadge(record.state));
      row.shownState = record.state;
      // A row whose job left the state filtered on stays, dimmed, until the next reload.
      row.tr.classList.toggle('left-filter', Boolean(filter.state) && record.state !== filter.state);
    }
    setText(cells.started, runTime(record));
    setText(cells.summary, summary(record));
  }

  const matches = (record) =>
    (!filter.state || record.state === filter.state) && (!filter.kind || record.kind === filter.kind);

  function showEmpty() {
    if (order.length === 0) fill(body, h('tr.empty', null, h('td.muted', { colSpan: 7 }, 'No jobs.')));
    else body.querySelector('tr.empty')?.remove();
  }

  async function load() {
    setText(status, 'loading…');
    try {
      const page = await getJson(`/v1/jobs?${listQuery(PAGE_SIZE, cursor, 'full')}`);
      rows.clear();
      order = page.jobs.map((record) => record.id);
      fill(
        body,
        page.jobs.map((record) => {
          const row = makeRow(record);
          rows.set(record.id, row);
          return row.tr;
        }),
      );
      nextCursor = page.next_cursor;
      trimmed = false;
      older.disabled = !nextCursor;
      setText(status, live ? 'live' : '');
      showEmpty();
    } catch (error) {
      setText(status, `cannot list jobs: ${error.message}`);
    }
  }

  function insert(record) {
    // Newest first by creation time; a new job almost always goes on top.
    let at = 0;
    while (at < order.length && rows.get(order[at]).record.created_at > record.created_at) ++at;
    if (at === order.length && nextCursor) return; // older than this page's last row: belongs to a later page
    const row = makeRow(record);
    rows.set(record.id, row);
    const before = at < order.length ? rows.get(order[at]).tr : null;
    body.insertBefore(row.tr, before);
    order.splice(at, 0, record.id);
  }

  const offEvents = onJobEvents((records, { dropped }) => {
    if (dropped) {
      // Events were lost, so rows may be stale: reload, at most every RELOAD_AFTER_DROP_MS
      // (a page that keeps falling behind must not also flood jobd with list requests).
      if (!reloadTimer) reloadTimer = setTimeout(() => ((reloadTimer = null), load()), RELOAD_AFTER_DROP_MS);
      return;
    }
    const touched = new Set();
    for (const record of records) {
      const row = rows.get(record.id);
      if (row) {
        row.record = record;
        touched.add(row);
      } else if (live && matches(record)) {
        insert(record);
      }
    }
    for (const row of touched) updateRow(row);
    while (order.length > MAX_ROWS) {
      const id = order.pop();
      rows.get(id).tr.remove();
      rows.delete(id);
      trimmed = true;
    }
    if (records.length) showEmpty();
  });

  // Run times of running jobs grow without events.
  const ticker = setInterval(() => {
    for (const row of rows.values())
      if (row.record.state === 'running') setText(row.cells.started, runTime(row.record));
  }, 1000);

  load();
  return () => {
    offEvents();
    clearInterval(ticker);
    clearTimeout(reloadTimer);
  };
}
