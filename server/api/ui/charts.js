// Time-series charts of the overview, drawn by uPlot (vendor/uPlot.iife.min.js, MIT, a
// canvas chart of ~50 KB that redraws thousands of points in a millisecond or two). uPlot sets
// its styles through the CSSOM, which a strict style-src allows (no inline style attributes).
import { h } from './dom.js';

const HEIGHT = 180;

// A chart of `history` (live.js metrics.history) in `parent`: series = [{key, label, color}].
// Returns {update(history), destroy()}.
export function timeChart(parent, { title, unit, series, history }) {
  const box = h('div.chart', { role: 'img', 'aria-label': title });
  parent.append(box);
  const uPlot = globalThis.uPlot;
  if (!uPlot) {
    box.append(h('p.muted', null, 'Charts are unavailable (uPlot did not load).'));
    return { update() {}, destroy() {} };
  }
  const format = (value) =>
    value === null || value === undefined ? '–' : `${value.toFixed(value < 10 ? 2 : 0)} ${unit}`;
  const options = {
    title,
    width: Math.max(box.clientWidth, 280),
    height: HEIGHT,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    // From zero, and at least up to 1: an idle server's flat zero line gets a sane axis.
    scales: { x: { time: true }, y: { range: (self, min, max) => [0, Math.max((max ?? 0) * 1.1, 1)] } },
    axes: [
      { stroke: '#6b7280', grid: { stroke: '#e5e7eb' } },
      {
        stroke: '#6b7280',
        grid: { stroke: '#e5e7eb' },
        size: 60,
        values: (self, ticks) => ticks.map((t) => `${+t.toPrecision(3)}`),
      },
    ],
    series: [
      {},
      ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        value: (self, v) => format(v),
        spanGaps: true,
      })),
    ],
  };
  const data = () => [history.t, ...series.map((s) => history[s.key])];
  const plot = new uPlot(options, data(), box);
  // Resized in the next frame, not inside the observer: a size change made in the callback
  // would be observed again in the same frame (the browser's "ResizeObserver loop" error).
  const resize = new ResizeObserver(() =>
    requestAnimationFrame(() => {
      const width = Math.max(box.clientWidth, 280);
      if (width !== plot.width) plot.setSize({ width, height: HEIGHT });
    }),
  );
  resize.observe(box);
  return {
    update: () => {
      plot.setData(data());
      // Not hovering: the legend shows the newest values instead of dashes.
      if (plot.cursor.left < 0 && history.t.length) plot.setLegend({ idx: history.t.length - 1 });
    },
    destroy: () => {
      resize.disconnect();
      plot.destroy();
    },
  };
}
