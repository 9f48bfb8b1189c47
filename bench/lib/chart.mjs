/**
 * The latency chart: p50 / p95 / p99 (enqueue → sink) against offered load for Herald's Gotify
 * worker, with the naive fetch worker's and the BullMQ no-op worker's p99 at the same loads, and
 * the 25 ms target. The latency axis is logarithmic: a saturated naive worker can be hundreds of
 * times slower, and a linear axis would flatten Herald's lines.
 */
import { writeFileSync } from 'node:fs';
import { Canvas } from './png.mjs';

const WIDTH = 1080;
const HEIGHT = 620;
const PLOT = { left: 100, right: 730, top: 70, bottom: 520 };
const COLORS = {
  text: [30, 30, 30],
  axis: [60, 60, 60],
  grid: [225, 225, 225],
  p50: [120, 180, 240],
  p95: [40, 110, 200],
  p99: [10, 40, 120],
  naive: [230, 120, 20],
  ceiling: [130, 130, 130],
  target: [210, 30, 30],
};

/** 1, 2, 5 × powers of ten between lo and hi. */
function logTicks(lo, hi) {
  const ticks = [];
  for (let exp = Math.floor(Math.log10(lo)); exp <= Math.ceil(Math.log10(hi)); exp++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** exp;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

function niceStep(range, count) {
  const raw = range / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw);
}

function label(value) {
  return value >= 1 ? String(Math.round(value)) : String(value);
}

export function drawLatencyChart(results, file) {
  const loads = results.latency.loads;
  const series = [
    { name: 'HERALD P50', color: COLORS.p50, values: loads.map((l) => l.herald.p50), width: 3 },
    { name: 'HERALD P95', color: COLORS.p95, values: loads.map((l) => l.herald.p95), width: 3 },
    { name: 'HERALD P99', color: COLORS.p99, values: loads.map((l) => l.herald.p99), width: 4 },
    { name: 'NAIVE FETCH P99', color: COLORS.naive, values: loads.map((l) => l.naiveFetch.p99), width: 3, dash: [10, 6] },
    { name: 'BULLMQ NO-OP P99', color: COLORS.ceiling, values: loads.map((l) => l.ceiling.p99), width: 3, dash: [4, 5] },
  ];
  const xs = loads.map((l) => l.offeredPerSecond);
  const all = series
    .flatMap((s) => s.values)
    .filter((v) => v !== null && v > 0)
    .concat([25]);
  const yLo = 10 ** Math.floor(Math.log10(Math.min(...all)));
  const yHi = 10 ** Math.ceil(Math.log10(Math.max(...all)));
  const xStep = niceStep(Math.max(...xs), 6);
  const xHi = Math.ceil((Math.max(...xs) * 1.08) / xStep) * xStep;

  const px = (x) => PLOT.left + (x / xHi) * (PLOT.right - PLOT.left);
  const py = (y) => PLOT.bottom - ((Math.log10(y) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * (PLOT.bottom - PLOT.top);

  const c = new Canvas(WIDTH, HEIGHT);
  c.text(WIDTH / 2, 18, 'Herald latency, enqueue -> received by Gotify sink', COLORS.text, { scale: 3, align: 'center' });
  const m = results.machine;
  c.text(
    WIDTH / 2,
    48,
    `${m.cpu}, ${m.cores} cores, Node ${m.node}, Redis ${m.redis}; open loop, median of ${results.settings.latencyRounds} round(s)`,
    COLORS.axis,
    { scale: 1, align: 'center' },
  );

  // Grid and axes.
  for (const t of logTicks(yLo, yHi)) {
    c.line(PLOT.left, py(t), PLOT.right, py(t), COLORS.grid);
    c.text(PLOT.left - 10, py(t) - 7, label(t), COLORS.text, { align: 'right' });
  }
  for (let x = 0; x <= xHi + 1e-9; x += xStep) {
    c.line(px(x), PLOT.top, px(x), PLOT.bottom, COLORS.grid);
    c.text(px(x), PLOT.bottom + 10, label(x), COLORS.text, { align: 'center' });
  }
  c.line(PLOT.left, PLOT.bottom, PLOT.right, PLOT.bottom, COLORS.axis, { width: 2 });
  c.line(PLOT.left, PLOT.top, PLOT.left, PLOT.bottom, COLORS.axis, { width: 2 });
  c.text((PLOT.left + PLOT.right) / 2, PLOT.bottom + 50, 'offered load, notifications/s', COLORS.text, { align: 'center' });
  c.verticalText(22, (PLOT.top + PLOT.bottom) / 2, 'latency, ms (log scale)', COLORS.text);
  for (const l of loads) c.text(px(l.offeredPerSecond), PLOT.bottom + 30, `${l.label} of max`, COLORS.axis, { scale: 1, align: 'center' });

  // The target.
  c.line(PLOT.left, py(25), PLOT.right, py(25), COLORS.target, { width: 2, dash: [6, 6] });

  for (const s of series) {
    const points = s.values.map((v, i) => (v === null || v <= 0 ? null : [px(xs[i]), py(v)]));
    for (let i = 1; i < points.length; i++) {
      if (points[i - 1] && points[i]) c.line(...points[i - 1], ...points[i], s.color, { width: s.width, dash: s.dash });
    }
    for (const p of points) if (p) c.disc(p[0], p[1], s.width + 2, s.color);
  }

  // Legend.
  let y = PLOT.top + 10;
  for (const s of series) {
    c.line(PLOT.right + 30, y + 7, PLOT.right + 70, y + 7, s.color, { width: s.width, dash: s.dash });
    c.disc(PLOT.right + 50, y + 7, s.width + 2, s.color);
    c.text(PLOT.right + 82, y, s.name, COLORS.text);
    y += 32;
  }
  c.line(PLOT.right + 30, y + 7, PLOT.right + 70, y + 7, COLORS.target, { width: 2, dash: [6, 6] });
  // The target is named in the legend only: a label in the plot would hide some series' points.
  c.text(PLOT.right + 82, y, 'P99 TARGET', COLORS.target);
  c.text(PLOT.right + 82, y + 18, '25 MS AT 50%', COLORS.target);
  y += 58;
  const max = results.latency.gotifyMaxPerSecond;
  c.text(PLOT.right + 30, y, `100% = ${Math.round(max ?? 0)}/s`, COLORS.axis, { scale: 1 });
  c.text(PLOT.right + 30, y + 14, 'the Gotify maximum Herald', COLORS.axis, { scale: 1 });
  c.text(PLOT.right + 30, y + 28, 'reached in this run', COLORS.axis, { scale: 1 });

  writeFileSync(file, c.toPng());
}
