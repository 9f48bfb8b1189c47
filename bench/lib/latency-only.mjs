/**
 * `npm run bench -- --only latency`: the latency rounds alone, for work on the tail. Each round runs
 * Herald's Gotify worker, the BullMQ no-op worker (and, with `--old DIR`, Herald built from another
 * checkout) at the same offered loads, alternating places from round to round, exactly as the full
 * run's latency rounds do (trials.mjs latencyRun). Per round it prints each contender's
 * p50/p95/p99, and at the end the per-round ratios Herald ÷ no-op (and new ÷ old) with their
 * medians: on a shared 2-core machine only ratios of the same round mean anything.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DELIVERY, deliveryRun, latencyRun, olderHerald } from './trials.mjs';
import { median } from './util.mjs';

const QUANTILES = ['p50', 'p95', 'p99'];

/**
 * Runs the rounds; `maxRate` is Herald's Gotify maximum the loads are fractions of (measured here
 * by one delivery run when not given).
 */
export async function latencyOnly(ctx, { rounds, fractions, maxRate, oldDir, lingerMs, naive, latency, rotate, log, workerFlags = [] }) {
  let gotifyMax = maxRate;
  if (!gotifyMax) {
    const run = await deliveryRun(ctx, 'gotify', 25_000);
    gotifyMax = Math.round(run.perSecond);
    log(`Herald's Gotify maximum: ${gotifyMax}/s (one delivery run; --max-rate N to give it)`);
  }
  const loads = fractions.map((fraction) => ({ label: `${Math.round(fraction * 100)}%`, fraction, perSecond: Math.round(gotifyMax * fraction) }));
  ctx.contenders = {};
  if (oldDir) ctx.contenders.old = olderHerald(oldDir);
  // With --linger MS, this tree's Herald also runs with its producer's enqueue linger set to MS.
  if (lingerMs !== null) ctx.contenders.linger = { ...DELIVERY.gotify, label: `Herald worker → Gotify, enqueue linger ${lingerMs} ms`, lingerMs };
  const names = ['gotify', ...Object.keys(ctx.contenders), 'ceiling', ...(naive ? ['naiveFetch'] : [])];
  const raw = [];
  for (let round = 0; round < rounds; round++) {
    for (const name of rotate(names, round)) {
      // Node flags (`--worker-flags`) go to this tree's Herald worker only.
      const execArgv = name === 'gotify' ? workerFlags : [];
      const byLoad = await latencyRun(ctx, name, rotate(loads, round), { ...latency, execArgv });
      raw.push({ round, contender: name, byLoad });
      log(
        `latency round ${round + 1} ${name}: ${loads
          .map((l) => `${l.label} ${QUANTILES.map((q) => `${q} ${fmt(byLoad[l.label][q])}`).join(' ')} ms (${cores(byLoad[l.label])})`)
          .join('; ')}`,
      );
    }
  }
  const summary = summarise(raw, loads, names);
  process.stdout.write(`${summary.lines.join('\n')}\n`);
  // Outside the work dir, which a successful run removes.
  const file = join(tmpdir(), `herald-latency-only-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ gotifyMax, loads, raw, ratios: summary.ratios }, null, 2)}\n`);
  log(`raw figures: ${file}`);
}

/** Per load: each contender's median quantiles, and the medians of the per-round ratios. */
function summarise(raw, loads, names) {
  const lines = [];
  const ratios = {};
  const of = (name, round, label) => raw.find((r) => r.contender === name && r.round === round)?.byLoad[label];
  const roundsRun = [...new Set(raw.map((r) => r.round))];
  for (const { label } of loads) {
    lines.push(`load ${label}:`);
    for (const name of names) {
      const runs = roundsRun.map((round) => of(name, round, label));
      lines.push(`  ${name.padEnd(11)} ${QUANTILES.map((q) => `${q} ${fmt(median(runs.map((r) => r?.[q])))}`).join('  ')} ms (medians of ${runs.length})`);
    }
    const pairs = [
      ['gotify', 'ceiling', 'Herald ÷ no-op'],
      ...(names.includes('old')
        ? [
            ['old', 'ceiling', 'old Herald ÷ no-op'],
            ['gotify', 'old', 'new ÷ old Herald'],
          ]
        : []),
      ...(names.includes('linger')
        ? [
            ['linger', 'ceiling', 'linger var. ÷ no-op'],
            ['linger', 'gotify', 'linger var. ÷ Herald'],
          ]
        : []),
    ];
    for (const [a, b, what] of pairs) {
      const perQuantile = {};
      for (const q of QUANTILES) {
        const perRound = roundsRun.map((round) => quotient(of(a, round, label)?.[q], of(b, round, label)?.[q]));
        perQuantile[q] = { median: median(perRound), rounds: perRound };
      }
      ratios[`${label} ${what}`] = perQuantile;
      lines.push(
        `  ${what.padEnd(18)} ${QUANTILES.map((q) => `${q} ${fmt2(perQuantile[q].median)}×`).join('  ')}   p99 by round: ${perQuantile.p99.rounds.map(fmt2).join(' ')}`,
      );
    }
  }
  return { lines, ratios };
}

/** Cores the benchmark's processes used during the load, in all and each, and other programs'. */
function cores(run) {
  const each = Object.entries(run.cpu).map(([name, c]) => `${name} ${c.coreShare.toFixed(2)}`);
  return `bench ${run.benchCores.toFixed(2)} cores: ${each.join(', ')}; other programs ${run.backgroundCores?.toFixed(2)}`;
}

function quotient(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : null;
}

function fmt(value) {
  return typeof value === 'number' ? value.toFixed(1) : '—';
}

function fmt2(value) {
  return typeof value === 'number' ? value.toFixed(2) : '—';
}
