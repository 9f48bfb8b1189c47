/**
 * `npm run bench` — Herald against the queue's own ceiling and the naive way, side by side in one
 * run on one machine. What is measured and how is said where it is done: lib/trials.mjs (runs),
 * lib/report.mjs (figures and ratios), producer.mjs, bull-worker.mjs and sink.mjs (processes).
 *
 *   npm run bench                 full run (3 rounds, about 10 minutes on 2 cores)
 *   npm run bench -- --quick      1 round with smaller counts (about 2 minutes), and a one-line
 *                                 verdict against the figures of the last full run (baseline.json)
 *   npm run bench -- --profile    CPU profile of a herald worker at max Gotify load
 *
 *   npm run bench -- --only latency [--old DIR] [--linger MS] [--max-rate N] [--loads 0.5] [--naive] [--trace [--allocations | --promoted] [--heap]]
 *                                 the latency rounds alone (lib/latency-only.mjs): Herald and the
 *                                 no-op worker (and, with --old, Herald built in another checkout)
 *                                 alternating at the same loads; prints per-round ratios, writes
 *                                 nothing to bench/results; --trace instead breaks Herald's
 *                                 latency down by stage (lib/latency-trace.mjs)
 *
 * Options: --rounds N, --concurrency N (worker concurrency of every contender, default 50),
 * --out DIR (default bench/results).
 */
import os from 'node:os';
import { mkdtempSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { forkHelper, stopChild } from './lib/procs.mjs';
import { CLI, REPO_DIR, heraldEnv, machineInfo, startHeraldApi, startRedis, startSinks, templates } from './lib/env.mjs';
import { DELIVERY, deliveryRun, enqueueRun, latencyRun, memoryRun, smokeTest, topicRun } from './lib/trials.mjs';
import { summarise, printTable, writeResults } from './lib/report.mjs';
import { drawLatencyChart } from './lib/chart.mjs';
import { profileWorker } from './lib/profile.mjs';
import { verdict, writeBaseline } from './lib/baseline.mjs';
import { latencyOnly } from './lib/latency-only.mjs';
import { latencyTrace } from './lib/latency-trace.mjs';

const { values: options } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    concurrency: { type: 'string', default: '50' },
    out: { type: 'string', default: join(REPO_DIR, 'bench/results') },
    'keep-logs': { type: 'boolean', default: false },
    only: { type: 'string' },
    old: { type: 'string' },
    'max-rate': { type: 'string' },
    loads: { type: 'string', default: '0.5' },
    naive: { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
    'worker-flags': { type: 'string' },
    linger: { type: 'string' },
    // --allocations: what the worker allocates; --promoted: what of it outlived the young generation.
    allocations: { type: 'boolean', default: false },
    promoted: { type: 'boolean', default: false },
    heap: { type: 'boolean', default: false },
  },
  strict: true,
});

/** Counts are sized so each delivery run lasts a few seconds at the rates seen on 2 cores. */
const PRESETS = {
  full: {
    rounds: 3,
    enqueue: { addbulk: 50_000, sdk: 50_000, http: 10_000 },
    memory: 20_000,
    delivery: { floor: 50_000, ceiling: 50_000, naiveFetch: 20_000, httpFloor: 25_000, gotify: 25_000, naiveWebPush: 6_000, webpush: 10_000, email: 5_000 },
    latency: { rounds: 3, durationMs: 6000, warmupMs: 2000 },
    // The issue's figure: a 10 000-member topic, in both presets.
    topicMembers: 10_000,
    profileCount: 60_000,
  },
  quick: {
    rounds: 1,
    enqueue: { addbulk: 10_000, sdk: 10_000, http: 3_000 },
    memory: 5_000,
    // The figures the verdict compares with the full run's (baseline.mjs) are measured on the same
    // counts as there: CPU per delivery over a short run includes more of the start-up.
    delivery: { floor: 50_000, ceiling: 15_000, naiveFetch: 5_000, httpFloor: 6_000, gotify: 25_000, naiveWebPush: 1_500, webpush: 10_000, email: 5_000 },
    latency: { rounds: 1, durationMs: 3000, warmupMs: 1000 },
    topicMembers: 10_000,
    profileCount: 20_000,
  },
};

const LOAD_FRACTIONS = [0.25, 0.5, 0.75];

function log(message) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Rotates a list by the round number: contenders alternate places from round to round. */
function rotate(list, round) {
  const k = round % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

function startApi(ctx) {
  return startHeraldApi(ctx.heraldEnv, join(ctx.workDir, 'herald-api.log'));
}

async function main() {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
  const preset = { ...PRESETS[options.quick ? 'quick' : 'full'] };
  if (options.rounds) preset.rounds = preset.latency.rounds = Number(options.rounds);
  const startedAt = Date.now();
  const workDir = mkdtempSync(join(os.tmpdir(), 'herald-bench-'));
  mkdirSync(options.out, { recursive: true });
  log(`work dir (logs, keys): ${workDir}`);

  const redis = await startRedis(workDir);
  const sinks = await startSinks(workDir);
  const ctx = {
    workDir,
    repoDir: REPO_DIR,
    redis: redis.redis,
    redisUrl: redis.url,
    redisPid: redis.pid,
    sinks,
    heraldEnv: heraldEnv(redis.url, sinks),
    templates: templates(sinks),
    concurrency: Number(options.concurrency),
    httpConcurrency: 32,
    // On a shared machine, each measurement first waits (bounded) until other programs use less
    // than this many cores. The quick mode has no time to wait; it only records the load.
    quietCores: 0.6,
    quietWaitMs: options.quick ? 0 : 15_000,
  };
  // One long-lived loader fills queues before delivery runs; it is not itself measured.
  ctx.loader = await forkHelper(join(REPO_DIR, 'bench/producer.mjs'), 'loader');
  const machine = machineInfo(os, redis.version);
  log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, Redis ${machine.redis}`);

  let succeeded = false;
  try {
    if (options.profile) {
      await profileWorker(ctx, { count: preset.profileCount, outDir: options.out, log });
      succeeded = true;
      return;
    }
    if (options.only !== undefined) {
      if (options.only !== 'latency') throw new Error(`--only takes latency, got ${options.only}`);
      const rounds = options.rounds ? Number(options.rounds) : 4;
      const fractions = options.loads.split(',').map(Number);
      if (options.trace) {
        const maxRate = Number(options['max-rate'] ?? 4000);
        const loads = fractions.map((fraction) => ({ label: `${Math.round(fraction * 100)}%`, fraction, perSecond: Math.round(maxRate * fraction) }));
        await latencyTrace(ctx, {
          rounds,
          loads,
          latency: preset.latency,
          log,
          workerFlags: options['worker-flags']?.split(' ') ?? [],
          allocations: options.promoted ? 'promoted' : options.allocations,
          heap: options.heap,
        });
        succeeded = true;
        return;
      }
      await latencyOnly(ctx, {
        rounds,
        fractions,
        maxRate: options['max-rate'] ? Number(options['max-rate']) : null,
        oldDir: options.old,
        lingerMs: options.linger !== undefined ? Number(options.linger) : null,
        workerFlags: options['worker-flags']?.split(' ') ?? [],
        naive: options.naive,
        latency: preset.latency,
        rotate,
        log,
      });
      succeeded = true;
      return;
    }

    // Which channels work in this tree right now.
    const unavailable = {};
    for (const name of ['gotify', 'webpush', 'email']) {
      const reason = await smokeTest(ctx, name);
      if (reason) {
        unavailable[name] = reason;
        log(`${name}: not measured — ${reason}`);
      }
    }
    if (unavailable.gotify) throw new Error(`the Gotify channel does not deliver: ${unavailable.gotify}`);

    const raw = { enqueue: [], delivery: [], latency: [], memory: {}, topics: [] };

    log('memory: Redis bytes per queued notification');
    raw.memory.herald = await memoryRun(ctx, 'herald', preset.memory);
    raw.memory.bullmq = await memoryRun(ctx, 'bullmq', preset.memory);

    const api = await startApi(ctx);
    ctx.apiUrl = api.url;
    ctx.apiPid = api.child.pid;
    for (let round = 0; round < preset.rounds; round++) {
      for (const kind of rotate(['addbulk', 'sdk', 'http'], round)) {
        const result = await enqueueRun(ctx, kind, preset.enqueue[kind]);
        raw.enqueue.push({ round, kind, ...result });
        log(`enqueue round ${round + 1} ${kind}: ${Math.round(result.perSecond)}/s`);
      }
    }
    await stopApi(api);

    const contenders = Object.keys(DELIVERY).filter((name) => !unavailable[name]);
    for (let round = 0; round < preset.rounds; round++) {
      for (const name of rotate(contenders, round)) {
        const result = await deliveryRun(ctx, name, preset.delivery[name]);
        raw.delivery.push({ round, ...result });
        log(
          `delivery round ${round + 1} ${name}: ${Math.round(result.perSecond ?? 0)}/s${result.finished ? '' : ` (unfinished: ${result.received}/${result.count})`}, peak RSS ${Math.round(result.peakRssMB)} MB`,
        );
      }
    }

    for (let round = 0; round < preset.rounds; round++) {
      for (const kind of rotate(['topic', 'notifyMany'], round)) {
        const result = await topicRun(ctx, kind, preset.topicMembers);
        raw.topics.push({ round, ...result });
        log(
          `topic fan-out round ${round + 1} ${kind}: ${Math.round(result.perSecond ?? 0)} members/s, calls ${Math.round(result.acceptMs)} ms${result.finished ? '' : ` (unfinished: ${result.received}/${result.members})`}`,
        );
      }
    }

    // Offered loads are fractions of Herald's own Gotify maximum measured above.
    const gotifyMax = summarise.medianOf(raw.delivery.filter((r) => r.contender === 'gotify').map((r) => r.perSecond));
    const loads = LOAD_FRACTIONS.map((fraction) => ({ label: `${Math.round(fraction * 100)}%`, fraction, perSecond: Math.round(gotifyMax * fraction) }));
    for (let round = 0; round < preset.latency.rounds; round++) {
      for (const name of rotate(['gotify', 'naiveFetch', 'ceiling'], round)) {
        const byLoad = await latencyRun(ctx, name, rotate(loads, round), preset.latency);
        raw.latency.push({ round, contender: name, byLoad });
        log(`latency round ${round + 1} ${name}: ${loads.map((l) => `${l.label} p99 ${fmt(byLoad[l.label].p99)} ms`).join(', ')}`);
      }
    }

    const results = summarise({
      raw,
      loads,
      unavailable,
      machine,
      preset,
      options,
      startedAt,
      concurrency: ctx.concurrency,
      httpConcurrency: ctx.httpConcurrency,
    });
    printTable(results);
    writeResults(results, options.out);
    if (options.quick) process.stdout.write(`${verdict(results, options.out)}\n`);
    else writeBaseline(results, options.out);
    drawLatencyChart(results, join(options.out, 'latency.png'));
    log(`wrote ${join(options.out, 'latest.json')} and latency.png in ${Math.round((Date.now() - startedAt) / 1000)} s`);
    succeeded = true;
  } finally {
    await Promise.all([sinks.gotify.stop(), sinks.push.stop(), sinks.smtp.stop(), ctx.loader.stop()]);
    await redis.redis.quit().catch(() => {});
    redis.child.kill('SIGTERM');
    await redis.child.exited;
    // A failed run keeps its logs for a look.
    if (succeeded && !options['keep-logs']) rmSync(workDir, { recursive: true, force: true });
    else log(`logs kept in ${workDir}`);
  }
}

async function stopApi(api) {
  await stopChild(api.child, 15_000);
}

function fmt(value) {
  return value === null || value === undefined ? '—' : value.toFixed(1);
}

main().then(
  () => process.exit(0),
  (err) => {
    log(`failed: ${err.stack ?? err}`);
    // The exit handler in procs.mjs kills whatever is still running.
    process.exit(1);
  },
);
