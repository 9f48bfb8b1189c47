/**
 * Throughput over the last minutes, counted from the event stream into fixed buckets and drawn as
 * an SVG: delivered and failed (dead-lettered or expired) as stacked bars, accepted as a line. Old
 * buckets fall off the left as time passes; nothing is kept but the counts.
 */
import { svg } from './dom.js';

/** The drawing is made at the chart's own size in CSS pixels, so its text keeps its size on any screen. */
const DEFAULT_WIDTH = 640;
const HEIGHT = 200;
const PHONE_HEIGHT = 150;
const PAD = { left: 36, right: 8, top: 12, bottom: 22 };

/** Which series an event type counts in. */
const SERIES_OF = {
  'notification.accepted': 'accepted',
  'notification.delivered': 'delivered',
  'notification.failed': 'failed',
  'notification.expired': 'failed',
};

export class Throughput {
  constructor({ bucketMs = 10_000, spanMs = 10 * 60_000 } = {}) {
    this.bucketMs = bucketMs;
    this.buckets = Math.round(spanMs / bucketMs);
    this.counts = new Map(); // bucket start (ms) → { accepted, delivered, failed }
    this.totals = { accepted: 0, delivered: 0, failed: 0 };
  }

  /** Counts an event at time `atMs`; false when it is not one the chart shows. */
  add(type, atMs) {
    const series = SERIES_OF[type];
    if (!series) return false;
    const start = Math.floor(atMs / this.bucketMs) * this.bucketMs;
    const bucket = this.counts.get(start) ?? { accepted: 0, delivered: 0, failed: 0 };
    bucket[series] += 1;
    this.counts.set(start, bucket);
    this.totals[series] += 1;
    return true;
  }

  /** The buckets shown at `now`, oldest first, with their start times. */
  window(now = Date.now()) {
    const last = Math.floor(now / this.bucketMs) * this.bucketMs;
    const first = last - (this.buckets - 1) * this.bucketMs;
    for (const start of this.counts.keys()) if (start < first) this.counts.delete(start);
    return Array.from({ length: this.buckets }, (_, i) => {
      const start = first + i * this.bucketMs;
      return { start, ...(this.counts.get(start) ?? { accepted: 0, delivered: 0, failed: 0 }) };
    });
  }

  /** Draws the chart into `node` (an <svg>), replacing what was there. */
  draw(node, now = Date.now()) {
    const WIDTH = Math.round(node.getBoundingClientRect?.().width || DEFAULT_WIDTH);
    const HEIGHT_NOW = WIDTH < 500 ? PHONE_HEIGHT : HEIGHT;
    const rows = this.window(now);
    const peak = Math.max(2, ...rows.map((r) => Math.max(r.delivered + r.failed, r.accepted)));
    const top = niceCeiling(peak);
    const plotW = WIDTH - PAD.left - PAD.right;
    const plotH = HEIGHT_NOW - PAD.top - PAD.bottom;
    const step = plotW / rows.length;
    const y = (value) => PAD.top + plotH - (value / top) * plotH;

    const grid = [0, top / 2, top].map((value) => [
      svg('line', { class: 'grid', x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value) }),
      svg('text', { class: 'axis', x: PAD.left - 6, y: y(value) + 4, 'text-anchor': 'end' }, formatCount(value)),
    ]);
    const bars = rows.flatMap((row, i) => {
      const x = PAD.left + i * step + step * 0.15;
      const w = step * 0.7;
      const out = [];
      if (row.delivered > 0) out.push(svg('rect', { class: 'bar-delivered', x, width: w, y: y(row.delivered), height: y(0) - y(row.delivered) }));
      if (row.failed > 0) {
        out.push(svg('rect', { class: 'bar-failed', x, width: w, y: y(row.delivered + row.failed), height: y(row.delivered) - y(row.delivered + row.failed) }));
      }
      return out;
    });
    const line = svg('polyline', {
      class: 'line-accepted',
      points: rows.map((row, i) => `${(PAD.left + (i + 0.5) * step).toFixed(1)},${y(row.accepted).toFixed(1)}`).join(' '),
    });
    const minutes = Math.round((this.buckets * this.bucketMs) / 60_000);
    const labels = [
      svg('text', { class: 'axis', x: PAD.left, y: HEIGHT_NOW - 6 }, `${minutes} min ago`),
      svg('text', { class: 'axis', x: WIDTH - PAD.right, y: HEIGHT_NOW - 6, 'text-anchor': 'end' }, 'now'),
    ];
    node.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT_NOW}`);
    node.setAttribute('height', String(HEIGHT_NOW));
    node.setAttribute('data-delivered', String(this.totals.delivered));
    node.setAttribute('data-accepted', String(this.totals.accepted));
    node.setAttribute('data-failed', String(this.totals.failed));
    node.replaceChildren(...grid.flat(), ...bars, line, ...labels);
  }
}

/** 1, 2, 5, 10, 20, 50 …: a round top for the axis. */
function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= value);
}

function formatCount(value) {
  if (value >= 1000) return `${(value / 1000).toFixed(value >= 10_000 ? 0 : 1)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
