/**
 * The regression guard. A full run stores the figures a change to the delivery path moves
 * (baseline.json); `npm run bench -- --quick` then prints one line that compares its own figures
 * with them and flags any that got more than 10 % worse.
 *
 * The figures compared are those that hold up on a shared machine: CPU per delivery of the worker
 * and of Redis (process CPU time over the steady part of a run, so other programs slow a run down
 * without adding to it), and Herald's rate as a fraction of the HTTP floor measured in the same
 * run (both move together when the machine is busy). Absolute rates are not compared. On a machine
 * shared with other work these still move by 10-20 % between runs of the same code, so the line says
 * how much CPU other programs used during both runs.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A figure worse than its baseline by more than this share is flagged. */
export const REGRESSION_THRESHOLD = 0.1;

/** What is compared: where to read it, and whether more is better. */
const FIGURES = [
  { name: 'Herald → Gotify ÷ floor', read: (r) => r.delivery.gotify?.vsFloor, better: 'higher', format: (v) => `${v.toFixed(2)}×` },
  { name: 'Gotify worker CPU/delivery', read: (r) => r.delivery.gotify?.cpu.worker.msPerNotification, better: 'lower', format: ms },
  { name: 'Gotify Redis CPU/delivery', read: (r) => r.delivery.gotify?.cpu.redis.msPerNotification, better: 'lower', format: ms },
  { name: 'Web Push worker CPU/delivery', read: (r) => r.delivery.webpush?.cpu.worker.msPerNotification, better: 'lower', format: ms },
  { name: 'email worker CPU/delivery', read: (r) => r.delivery.email?.cpu.worker.msPerNotification, better: 'lower', format: ms },
];

function ms(value) {
  return `${(value * 1000).toFixed(0)} µs`;
}

function figuresOf(results) {
  return Object.fromEntries(FIGURES.map((f) => [f.name, f.read(results) ?? null]));
}

/** Stores the figures of a full run as the baseline the quick runs compare with. */
export function writeBaseline(results, dir) {
  const baseline = {
    generatedAt: results.generatedAt,
    mode: results.mode,
    machine: results.machine,
    backgroundCores: results.backgroundLoad?.medianCores ?? null,
    figures: figuresOf(results),
  };
  writeFileSync(join(dir, 'baseline.json'), `${JSON.stringify(baseline, null, 2)}\n`);
}

/**
 * One line: each figure against its baseline, with the change in per cent; `REGRESSION` first when
 * any got worse by more than REGRESSION_THRESHOLD. Null when there is no baseline yet.
 */
export function verdict(results, dir) {
  const file = join(dir, 'baseline.json');
  if (!existsSync(file)) return `no baseline to compare with: ${file} is written by a full run (npm run bench)`;
  const baseline = JSON.parse(readFileSync(file, 'utf8'));
  const now = figuresOf(results);
  const parts = [];
  const worse = [];
  for (const figure of FIGURES) {
    const before = baseline.figures?.[figure.name];
    const after = now[figure.name];
    if (typeof before !== 'number' || typeof after !== 'number' || before <= 0) continue;
    const change = after / before - 1;
    // Worse: a cost that rose, or a ratio that fell.
    const worsened = figure.better === 'lower' ? change : -change;
    const text = `${figure.name} ${figure.format(after)} (baseline ${figure.format(before)}, ${change >= 0 ? '+' : '−'}${Math.abs(change * 100).toFixed(0)} %)`;
    parts.push(text);
    if (worsened > REGRESSION_THRESHOLD) worse.push(figure.name);
  }
  const head =
    worse.length > 0
      ? `REGRESSION (more than ${REGRESSION_THRESHOLD * 100} % worse: ${worse.join(', ')})`
      : `OK (nothing more than ${REGRESSION_THRESHOLD * 100} % worse)`;
  // A machine busier than during the baseline inflates CPU per delivery too: said beside the verdict.
  const cores = (value) => (typeof value === 'number' ? value.toFixed(2) : '?');
  const load = `other programs used ${cores(results.backgroundLoad?.medianCores)} cores (${cores(baseline.backgroundCores)} during the baseline)`;
  return `quick check against the full run of ${baseline.generatedAt}: ${head} — ${parts.join('; ')}; ${load}`;
}
