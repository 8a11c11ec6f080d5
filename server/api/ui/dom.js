// Building the page without innerHTML: every string from the server lands in a text node, so
// nothing it says can become markup or script (the CSP forbids inline script anyway; this keeps
// job params and output from even trying).

// h('a.class', {href: '#/'}, 'text', child...): an element with attributes and children
// (the attributes may be left out).
// Attributes starting with "on" are listeners; `hidden`/`disabled` and friends take booleans.
export function h(tag, attrs, ...children) {
  // Attributes are a plain object; anything else in that place is the first child.
  if (
    attrs !== null &&
    attrs !== undefined &&
    (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))
  ) {
    children.unshift(attrs);
    attrs = null;
  }
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (value === true) el.setAttribute(key, '');
      else if (key in el && key !== 'list' && key !== 'form') el[key] = value;
      else el.setAttribute(key, value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// Replaces the children of `el` (a view re-rendering a section).
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Sets text only when it changed: live tables touch many cells per frame, most unchanged.
export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}

export const FINAL_STATES = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);
export const STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out'];

export function stateBadge(state) {
  return h(`span.badge.state-${state}`, null, state.replace('_', ' '));
}

export function shortId(id) {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}

// "3.2 s", "120 ms", "2 min 5 s": durations for people.
export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatTime(iso) {
  if (!iso) return '–';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString(undefined, { hour12: false });
}

export function formatNumber(value, digits = 0) {
  if (value === undefined || value === null || !Number.isFinite(value)) return '–';
  return value.toLocaleString(undefined, { maximumFractionDigits: digits });
}

// Time from one RFC 3339 stamp to another (or to now), in ms.
export function elapsedMs(fromIso, toIso) {
  if (!fromIso) return NaN;
  const to = toIso ? Date.parse(toIso) : Date.now();
  return to - Date.parse(fromIso);
}

export function json(value) {
  return JSON.stringify(value, null, 2);
}
