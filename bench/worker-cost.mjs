/**
 * Herald's own CPU per delivery: a worker draining a queue with its Gotify provider replaced by one
 * that answers at once, so what is measured is Herald's part alone (BullMQ's job cycle, the read
 * of records and recipients, the decision, the recorded transition and its statistics), beside a
 * BullMQ no-op worker draining the same number of raw jobs, in the same run.
 *
 *   npm run bench:worker             (builds dist/, then runs this file)
 *   node bench/worker-cost.mjs [--deliveries N] [--rounds R] [--provider-ms MS] [--old DIR]
 *
 * With --old DIR (another checkout of Herald, built: DIR/dist/src), each round also runs the
 * worker of that tree, alternating with this one's, so a change is measured old against new in the
 * same run; the figures of both and their ratio are printed.
 *
 * With --allocations (or --allocations-by-function, which also lists the 25 functions that
 * allocated the most; or --promoted, which counts only what outlived a scavenge and so was copied
 * by the young generation's collector), each Herald round runs under V8's sampling heap profiler (counting what
 * garbage collection freed too) and also reports the bytes the worker allocated per delivery, old
 * against new; the profiler costs CPU, so compare CPU figures from runs without it.
 *
 * With --http, Herald's worker sends over HTTP with its real Gotify adapter to the benchmark's
 * Gotify sink (bench/sink.mjs, a process of its own, not counted): the request path's cost is
 * then in the figures too. A round ends when the sink has received every delivery.
 *
 * With --provider-ms, Herald's provider answers after MS milliseconds instead of at once: sends
 * then finish in later turns of the event loop, as real ones do, and deliveries waiting for a
 * slot re-check their token before they send (see src/delivery/send.ts).
 *
 * Both run in this process (CPU time of this process, user + system, from the worker's start to
 * the last delivery, divided by deliveries) against a private redis-server whose CPU is not
 * counted. Each round also gives deliveries per second of wall time over the same span, which
 * includes the round trips to Redis a worker waits for. Queues are filled before each worker starts. Rounds alternate the two; medians are
 * reported. Beside them, the time Redis spent in Herald's scripts per delivery (its commandstats:
 * the load and transition scripts, and BullMQ's own), which a change to a script moves. The full benchmark (npm run bench) measures real `herald worker` processes sending
 * over HTTP; this one tells how much of that is Herald's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';
import { Queue, Worker } from 'bullmq';
import pino from 'pino';
import { startRedis } from './lib/env.mjs';
import { forkHelper, stopChild } from './lib/procs.mjs';
import { median, numberOption } from './lib/util.mjs';

/** What a round needs of a tree's build. */
async function loadTree(dist) {
  const { Herald } = await import(new URL('index.js', dist).href);
  const { startWorkerRuntime } = await import(new URL('run/workers.js', dist).href);
  const { loadConfig } = await import(new URL('config.js', dist).href);
  return { Herald, startWorkerRuntime, loadConfig };
}

const current = await loadTree(new URL('../dist/src/', import.meta.url));
const oldIndex = process.argv.indexOf('--old');
const oldDir = oldIndex > 0 ? process.argv[oldIndex + 1] : null;
const old = oldDir ? await loadTree(pathToFileURL(`${resolve(oldDir)}/dist/src/`)) : null;

const DELIVERIES = numberOption('deliveries', 20_000);
const ROUNDS = numberOption('rounds', 3);
const PROVIDER_MS = numberOption('provider-ms', 0);
const HTTP = process.argv.includes('--http');
/** --promoted: count only what outlived a scavenge (what the young generation copied out). */
const PROMOTED = process.argv.includes('--promoted');
const ALLOCATIONS = PROMOTED || process.argv.includes('--allocations') || process.argv.includes('--allocations-by-function');
const CONCURRENCY = 50;
const PREFIX = 'hc';
const FILL_BATCH = 1000;
const MESSAGE = 'Build 1234 finished: all 250 tests passed';

/** Resolves once `count` calls were made; the callback each delivery makes. */
function countdown(count) {
  let left = count;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  return { tick: () => --left === 0 && done(), finished };
}

/** CPU ms of this process while `run` goes, and the wall-clock ms it took. */
async function cpuOf(run) {
  const before = process.cpuUsage();
  const started = performance.now();
  await run();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(before);
  return { cpuMs: (used.user + used.system) / 1000, wallMs };
}

/**
 * Bytes allocated while `run` goes, by V8's sampling heap profiler with what garbage collection
 * freed counted too (its samples are scaled to estimate all allocations): 0 without --allocations.
 */
async function allocatedBy(run) {
  if (!ALLOCATIONS) return { result: await run(), bytes: 0, top: [] };
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: !PROMOTED,
  });
  const result = await run();
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  let bytes = 0;
  const byFunction = new Map();
  const walk = (node) => {
    bytes += node.selfSize;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    byFunction.set(where, (byFunction.get(where) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  const top = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 25);
  return { result, bytes, top };
}

/** Microseconds Redis spent in scripts (EVAL and EVALSHA, with the commands they ran) since the last CONFIG RESETSTAT. */
async function scriptMicros(redis) {
  let usec = 0;
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const match = /^cmdstat_(?:eval|evalsha):calls=\d+,usec=(\d+)/.exec(line.trim());
    if (match) usec += Number(match[1]);
  }
  return usec;
}

/** With --http: the Gotify sink process and its URL. */
async function startSink() {
  const sink = await forkHelper(new URL('sink.mjs', import.meta.url).pathname, 'gotify-sink');
  const { port } = await sink.call('start', ['gotify']);
  return { sink, url: `http://127.0.0.1:${port}` };
}

/** Resolves once the sink has received `count` requests since its last take. */
async function sinkReceived(sink, count) {
  while ((await sink.call('count')) < count) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function heraldRound({ Herald, startWorkerRuntime, loadConfig }, redisUrl, round, redis) {
  const herald = new Herald({ redis: redisUrl, prefix: PREFIX });
  for (let from = 0; from < DELIVERIES; from += FILL_BATCH) {
    const batch = Array.from({ length: Math.min(FILL_BATCH, DELIVERIES - from) }, (_, i) => ({
      id: `c${round}-${from + i}`,
      message: MESSAGE,
      priority: 5,
      channels: ['gotify'],
      targets: { gotify: { token: 'AcostToken' } },
    }));
    await herald.notifyMany(batch);
  }
  await herald.close();
  const { config } = loadConfig({ REDIS_URL: redisUrl, HERALD_PREFIX: PREFIX, GOTIFY_URL: http ? http.url : 'http://127.0.0.1:9' });
  if (http) await http.sink.call('take');
  const sent = countdown(DELIVERIES);
  const instant = {
    name: 'gotify',
    send: async () => {
      if (PROVIDER_MS > 0) await new Promise((resolve) => setTimeout(resolve, PROVIDER_MS));
      sent.tick();
      return { statusCode: 200 };
    },
    close: async () => {},
  };
  let runtime;
  await redis.config('RESETSTAT');
  const {
    result: measured,
    bytes,
    top,
  } = await allocatedBy(() =>
    cpuOf(async () => {
      runtime = await startWorkerRuntime({
        config,
        channels: ['gotify'],
        concurrency: { gotify: CONCURRENCY, webpush: CONCURRENCY, email: CONCURRENCY },
        logger: pino({ level: 'warn' }),
        ...(http ? {} : { adapters: { gotify: instant } }),
      });
      await (http ? sinkReceived(http.sink, DELIVERIES) : sent.finished);
    }),
  );
  const redisUs = await scriptMicros(redis);
  await runtime.close(2000);
  // With --allocations-by-function, the functions that allocated the most, in bytes per delivery.
  if (process.argv.includes('--allocations-by-function')) {
    console.log(
      `${round}:\n${top
        .map(
          ([where, b]) =>
            `  ${Math.round(b / DELIVERIES)
              .toString()
              .padStart(6)} B ${where}`,
        )
        .join('\n')}`,
    );
  }
  return { ...measured, redisUs, bytes };
}

async function bullRound(redis, redisUrl, round) {
  const queue = new Queue(`cost${round}`, { connection: redis });
  for (let from = 0; from < DELIVERIES; from += FILL_BATCH) {
    const jobs = Array.from({ length: Math.min(FILL_BATCH, DELIVERIES - from) }, (_, i) => ({
      name: 'deliver',
      data: { id: `b${round}-${from + i}`, message: MESSAGE },
      opts: { removeOnComplete: true },
    }));
    await queue.addBulk(jobs);
  }
  const done = countdown(DELIVERIES);
  let worker;
  const measured = await cpuOf(async () => {
    worker = new Worker(`cost${round}`, async () => done.tick(), { connection: { url: redisUrl, maxRetriesPerRequest: null }, concurrency: CONCURRENCY });
    await done.finished;
  });
  await worker.close();
  await queue.close();
  return measured;
}

const workDir = mkdtempSync(join(tmpdir(), 'herald-cost-'));
const server = await startRedis(workDir);
const http = HTTP ? await startSink() : null;
const us = (ms) => `${(ms * 1000).toFixed(1)} µs`;
try {
  // Per contender: CPU ms per delivery, Redis µs in scripts per delivery, deliveries per second.
  const figures = { herald: { cpu: [], redis: [], rate: [], bytes: [] }, old: { cpu: [], redis: [], rate: [], bytes: [] }, bull: { cpu: [], rate: [] } };
  const contenders = old ? ['herald', 'old', 'bull'] : ['herald', 'bull'];
  for (let round = 0; round < ROUNDS; round++) {
    await server.redis.flushall();
    // Rotating which goes first spreads the machine's drift over all of them.
    const k = round % contenders.length;
    for (const which of [...contenders.slice(k), ...contenders.slice(0, k)]) {
      if (which === 'bull') {
        const { cpuMs, wallMs } = await bullRound(server.redis, server.url, round);
        figures.bull.cpu.push(cpuMs / DELIVERIES);
        figures.bull.rate.push(DELIVERIES / (wallMs / 1000));
      } else {
        const { cpuMs, wallMs, redisUs, bytes } = await heraldRound(which === 'old' ? old : current, server.url, `${which}${round}`, server.redis);
        figures[which].cpu.push(cpuMs / DELIVERIES);
        figures[which].redis.push(redisUs / DELIVERIES);
        figures[which].rate.push(DELIVERIES / (wallMs / 1000));
        figures[which].bytes.push(bytes / DELIVERIES);
      }
    }
    const h = figures.herald;
    const o = figures.old;
    console.log(
      `round ${round + 1}: Herald ${us(h.cpu.at(-1))}${old ? ` (old ${us(o.cpu.at(-1))})` : ''}, BullMQ no-op ${us(figures.bull.cpu.at(-1))} of CPU per delivery; ` +
        `Redis in Herald's scripts ${h.redis.at(-1).toFixed(1)} µs${old ? ` (old ${o.redis.at(-1).toFixed(1)} µs)` : ''} per delivery; ` +
        `Herald ${Math.round(h.rate.at(-1))}/s${old ? ` (old ${Math.round(o.rate.at(-1))}/s)` : ''}, BullMQ no-op ${Math.round(figures.bull.rate.at(-1))}/s` +
        (ALLOCATIONS ? `; allocated ${Math.round(h.bytes.at(-1))} B${old ? ` (old ${Math.round(o.bytes.at(-1))} B)` : ''} per delivery` : ''),
    );
  }
  const h = median(figures.herald.cpu);
  const b = median(figures.bull.cpu);
  const provider = HTTP
    ? 'sent over HTTP to a Gotify sink'
    : PROVIDER_MS > 0
      ? `Herald's provider answering after ${PROVIDER_MS} ms`
      : 'provider answering at once';
  console.log(`\nCPU per delivery (median of ${ROUNDS}, ${DELIVERIES} deliveries each, ${provider}):`);
  console.log(`  Herald worker ${us(h)}; BullMQ no-op worker ${us(b)} (one job per message); ratio ${(h / b).toFixed(2)}×`);
  console.log(`  Redis time in scripts during Herald's rounds: ${median(figures.herald.redis).toFixed(1)} µs per delivery`);
  console.log(
    `Delivered per second of wall time (median): Herald ${Math.round(median(figures.herald.rate))}, BullMQ no-op ${Math.round(median(figures.bull.rate))}`,
  );
  if (ALLOCATIONS) {
    const bytes = median(figures.herald.bytes);
    const oldBytes = old ? median(figures.old.bytes) : 0;
    console.log(
      `Allocated per delivery (median, sampled): Herald ${Math.round(bytes)} B${old ? ` (old ${Math.round(oldBytes)} B, new ÷ old ${(bytes / oldBytes).toFixed(2)}×)` : ''}`,
    );
  }
  if (old) {
    const o = figures.old;
    console.log(
      `Old tree (${oldDir}), same rounds: worker ${us(median(o.cpu))} (new ÷ old ${(h / median(o.cpu)).toFixed(2)}×), ` +
        `Redis in scripts ${median(o.redis).toFixed(1)} µs (new ÷ old ${(median(figures.herald.redis) / median(o.redis)).toFixed(2)}×), ` +
        `${Math.round(median(o.rate))}/s (new ÷ old ${(median(figures.herald.rate) / median(o.rate)).toFixed(2)}×)`,
    );
  }
} finally {
  await server.redis.quit().catch(() => {});
  server.child.kill('SIGTERM');
  if (http) await stopChild(http.sink.child);
  rmSync(workDir, { recursive: true, force: true });
}
