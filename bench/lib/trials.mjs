/**
 * One measurement each: an enqueue run, a delivery run (prefilled queue, then a worker drains
 * it), a latency run (open-loop load against a running worker), Redis memory per notification.
 * Every run starts from an empty Redis and stops the processes it started before it returns.
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { CLI, PREFIX, API_KEY, GOTIFY_TOKEN, MESSAGE } from './env.mjs';
import { awaitQuiet, backgroundMeter, cpuMs, forkHelper, rssBytes, spawnProcess, stopChild } from './procs.mjs';
import { ID_PATTERN, nowMs, percentile, sleep, steadyRate, waitFor } from './util.mjs';

const BENCH_DIR = new URL('..', import.meta.url).pathname;
const PRODUCER = join(BENCH_DIR, 'producer.mjs');
const BULL_WORKER = join(BENCH_DIR, 'bull-worker.mjs');
const FLOOR_CLIENT = join(BENCH_DIR, 'floor-client.mjs');
/** BullMQ queue of the raw (ceiling and naive) runs; BullMQ's default prefix `bull`. */
const RAW_QUEUE = 'bench';

/**
 * The contenders that deliver. `kind: 'bull'` is our own BullMQ worker process (bull-worker.mjs),
 * `kind: 'herald'` a real `herald worker` process for one channel, `kind: 'floor'` the same HTTP
 * requests with no queue at all (floor-client.mjs).
 */
export const DELIVERY = {
  floor: { label: 'undici pool, no queue → Gotify (the floor)', kind: 'floor', template: 'gotify', sink: 'gotify' },
  ceiling: { label: 'BullMQ no-op worker', kind: 'bull', mode: 'noop', template: 'gotify', sink: null },
  naiveFetch: { label: 'naive fetch worker → Gotify', kind: 'bull', mode: 'fetch', template: 'gotify', sink: 'gotify' },
  naiveWebPush: { label: 'naive web-push worker → push', kind: 'bull', mode: 'webpush', template: 'webpush', sink: 'push' },
  httpFloor: { label: 'BullMQ + undici request per job → Gotify (reference)', kind: 'bull', mode: 'undici', template: 'gotify', sink: 'gotify' },
  gotify: { label: 'Herald worker → Gotify', kind: 'herald', channel: 'gotify', template: 'gotify', sink: 'gotify' },
  webpush: { label: 'Herald worker → Web Push', kind: 'herald', channel: 'webpush', template: 'webpush', sink: 'push' },
  email: { label: 'Herald worker → email', kind: 'herald', channel: 'email', template: 'email', sink: 'smtp' },
};

/**
 * Herald's Gotify contender run from another built checkout (`dir`): its `herald worker` and its
 * own producer.mjs, which imports that checkout's SDK. Old and new code then run in the same
 * invocation, alternating, on the same Redis, sinks and rates.
 */
export function olderHerald(dir) {
  return { ...DELIVERY.gotify, label: `Herald worker → Gotify (${dir})`, cli: join(dir, 'dist/src/cli.js'), producer: join(dir, 'bench/producer.mjs') };
}

let tagCounter = 0;
/** A fresh id tag per run, so a stray delivery of an earlier run can never be counted. */
function newTag() {
  tagCounter++;
  return `r${tagCounter.toString(36)}`;
}

export async function flush(ctx) {
  await ctx.redis.flushall('SYNC');
}

function tail(file, lines = 15) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Starts the worker of a contender; resolves once it is taking jobs. */
export async function startWorker(ctx, contender, { execArgv = [] } = {}) {
  if (contender.kind === 'herald') {
    const logFile = join(ctx.workDir, `herald-worker-${contender.channel}.log`);
    const child = spawnProcess(
      process.execPath,
      [...execArgv, contender.cli ?? CLI, 'worker', '--channels', contender.channel, '--concurrency', String(ctx.concurrency)],
      `herald worker ${contender.channel}`,
      { env: ctx.heraldEnv, logFile },
    );
    // The heartbeat is written once the BullMQ workers exist.
    await waitFor(
      `herald worker (${contender.channel}) heartbeat; log: ${logFile}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`herald worker exited with ${child.exitCode}:\n${tail(logFile)}`);
        return (await ctx.redis.zcard(`${PREFIX}:workers`)) > 0;
      },
      20_000,
    );
    return { pid: child.pid, source: ctx.sinks[contender.sink], stop: () => stopChild(child, 20_000), logFile };
  }
  if (contender.kind === 'floor') {
    const client = await forkHelper(FLOOR_CLIENT, 'floor client', { logFile: join(ctx.workDir, 'floor-client.log') });
    await client.call('start', [{ gotifyUrl: ctx.sinks.gotifyUrl, concurrency: ctx.concurrency }], 20_000);
    return {
      pid: client.pid,
      source: ctx.sinks[contender.sink],
      // Nothing is queued for the floor: it starts sending when told to.
      begin: (count, tag) => void client.call('run', [{ count, tag, template: ctx.templates.gotify, token: GOTIFY_TOKEN }], 600_000).catch(() => {}),
      stop: async () => {
        await client.call('stop', [], 20_000).catch(() => {});
        await client.stop(5000);
      },
    };
  }
  // The naive web-push worker trusts the push sink's self-signed certificate the way an operator
  // would trust a private CA, through NODE_EXTRA_CA_CERTS.
  const worker = await forkHelper(BULL_WORKER, `bull-worker ${contender.mode}`, {
    logFile: join(ctx.workDir, 'bull-worker.log'),
    env: { NODE_EXTRA_CA_CERTS: ctx.sinks.tls.certFile },
  });
  await worker.call(
    'start',
    [contender.mode, { redisUrl: ctx.redisUrl, queue: RAW_QUEUE, concurrency: ctx.concurrency, gotifyUrl: ctx.sinks.gotifyUrl, vapid: ctx.sinks.vapid }],
    20_000,
  );
  return {
    pid: worker.pid,
    source: contender.sink ? ctx.sinks[contender.sink] : worker,
    stop: async () => {
      await worker.call('stop', [], 20_000).catch(() => {});
      await worker.stop(5000);
    },
  };
}

/** Fills the queue a contender drains: Herald's through the SDK, the raw one through addBulk. */
async function prefill(ctx, contender, count, tag) {
  if (contender.kind === 'floor') return;
  const spec = { redisUrl: ctx.redisUrl, prefix: PREFIX, queue: RAW_QUEUE, count, batch: 1000, tag, template: ctx.templates[contender.template], warmup: 0 };
  await ctx.loader.call(contender.kind === 'herald' ? 'sdk' : 'addbulk', [spec], 300_000);
}

/** Redis command calls since the last CONFIG RESETSTAT, by command. */
async function commandCalls(redis) {
  const calls = {};
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (match) calls[match[1]] = { calls: Number(match[2]), usec: Number(match[3]) };
  }
  return calls;
}

function cpuSnapshot(pids) {
  return { at: nowMs(), ...Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)])) };
}

/** Share of one core each process used between two snapshots, and its CPU ms per notification. */
function cpuBetween(from, to, delivered) {
  const seconds = (to.at - from.at) / 1000;
  const result = {};
  for (const name of Object.keys(from)) {
    if (name === 'at' || from[name] === null || to[name] === null) continue;
    const used = to[name] - from[name];
    result[name] = { coreShare: used / 1000 / seconds, msPerNotification: delivered > 0 ? used / delivered : null };
  }
  return result;
}

/**
 * Delivered per second: `count` notifications are queued first (no worker running), then a
 * worker starts and drains them; the rate is read from the receive times at the sink (the
 * worker's own completion times for the no-op ceiling), leaving out the first 10 %.
 */
export async function deliveryRun(ctx, name, count, { execArgv } = {}) {
  const contender = DELIVERY[name];
  const tag = newTag();
  await flush(ctx);
  await prefill(ctx, contender, count, tag);
  if (contender.sink) await ctx.sinks[contender.sink].call('take');
  await ctx.redis.config('RESETSTAT');
  const quiet = await awaitQuiet(ctx.quietCores, ctx.quietWaitMs);
  // "Including start-up" counts from here: the process starting, connecting, its first fetches.
  const launchedAt = nowMs();
  const worker = await startWorker(ctx, contender, { execArgv });
  worker.begin?.(count, tag);
  const pids = { worker: worker.pid, redis: ctx.redisPid, ...(contender.sink ? { sink: ctx.sinks[contender.sink].pid } : {}) };
  let peakRss = 0;
  let from;
  let to;
  let received = 0;
  const started = Date.now();
  // Generous but bounded: a contender slower than 50/s is reported as unfinished.
  const deadline = started + 30_000 + (count / 50) * 1000;
  try {
    while (Date.now() < deadline) {
      received = await worker.source.call('count');
      peakRss = Math.max(peakRss, rssBytes(worker.pid) ?? 0);
      // CPU is read over the same steady part the rate is computed on (after the first 10 %).
      if (!from && received >= count * 0.1) from = { snapshot: cpuSnapshot(pids), received, background: backgroundMeter() };
      if (received >= count) {
        to = { snapshot: cpuSnapshot(pids), received, background: from?.background() };
        break;
      }
      await sleep(50);
    }
    const taken = await worker.source.call('take');
    const commands = await commandCalls(ctx.redis);
    const times = taken.times.filter((_, i) => ID_PATTERN.exec(taken.ids[i])?.[1] === tag);
    const unique = new Set(taken.ids.filter((id) => ID_PATTERN.exec(id)?.[1] === tag)).size;
    // Commands a script runs are counted beside the script itself: the scripts (EVAL/EVALSHA)
    // are the round trips, and their time includes what they ran.
    const scripts = ['eval', 'evalsha'].map((name) => commands[name] ?? { calls: 0, usec: 0 });
    return {
      contender: name,
      count,
      received: times.length,
      unique,
      finished: received >= count,
      problems: taken.problems,
      firstProblem: taken.firstProblem,
      perSecond: steadyRate(times),
      withStartUpPerSecond: times.length > 0 ? (times.length * 1000) / (times.reduce((a, b) => Math.max(a, b)) - launchedAt) : null,
      peakRssMB: peakRss / 2 ** 20,
      cpu: from && to ? cpuBetween(from.snapshot, to.snapshot, to.received - from.received) : null,
      backgroundCores: to?.background?.backgroundCores ?? null,
      backgroundBeforeCores: quiet.backgroundCores,
      redisScriptsPerNotification: (scripts[0].calls + scripts[1].calls) / count,
      redisUsPerNotification: (scripts[0].usec + scripts[1].usec) / count,
      redisCommands: commands,
    };
  } finally {
    await worker.stop();
  }
}

/** Enqueue rate of one producer kind: addbulk, sdk or http. */
export async function enqueueRun(ctx, kind, count) {
  await flush(ctx);
  const producer = await forkHelper(PRODUCER, `producer ${kind}`);
  await awaitQuiet(ctx.quietCores, ctx.quietWaitMs);
  const background = backgroundMeter();
  // The producer's and Redis's CPU say whether enqueueing costs on the client or in Redis (the
  // warm-up is inside this window; it is small beside the timed part).
  const pids = { producer: producer.pid, redis: ctx.redisPid, ...(kind === 'http' ? { api: ctx.apiPid } : {}) };
  const before = cpuSnapshot(pids);
  try {
    const spec = {
      redisUrl: ctx.redisUrl,
      prefix: PREFIX,
      queue: RAW_QUEUE,
      count,
      batch: 1000,
      tag: newTag(),
      template: ctx.templates.gotify,
      // Enough to warm the JIT and the connection; for HTTP also the API process.
      warmup: Math.min(kind === 'http' ? 1000 : 5000, count),
      url: ctx.apiUrl,
      apiKey: API_KEY,
      concurrency: ctx.httpConcurrency,
    };
    const result = await producer.call(kind, [spec], 300_000);
    const cpu = cpuBetween(before, cpuSnapshot(pids), count + spec.warmup);
    return { ...result, cpu, backgroundCores: background().backgroundCores };
  } finally {
    await producer.stop();
  }
}

/** Redis bytes per queued notification: INFO used_memory before and after queueing `count`. */
export async function memoryRun(ctx, kind, count) {
  await flush(ctx);
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await ctx.redis.info('memory'))[1]);
  const before = await usedMemory();
  await prefill(ctx, kind === 'herald' ? DELIVERY.gotify : DELIVERY.ceiling, count, newTag());
  const after = await usedMemory();
  await flush(ctx);
  return { count, bytesPerNotification: (after - before) / count };
}

/**
 * Latency enqueue → received by the sink, at each offered load, for one contender. The worker
 * runs throughout; each load is an open-loop run of `durationMs`, after a short warm-up at the
 * lowest load. A notification the sink never received counts as infinitely late.
 */
export async function latencyRun(ctx, name, loads, { durationMs, warmupMs, execArgv }) {
  const contender = ctx.contenders?.[name] ?? DELIVERY[name];
  await flush(ctx);
  const worker = await startWorker(ctx, contender, { execArgv });
  // Another build's contender (olderHerald) brings its own producer, so its SDK enqueues too.
  const producer = await forkHelper(contender.producer ?? PRODUCER, `open-loop producer ${name}`);
  const base = {
    target: contender.kind,
    redisUrl: ctx.redisUrl,
    prefix: PREFIX,
    queue: RAW_QUEUE,
    template: ctx.templates[contender.template],
    // A Herald variant with another enqueue linger than the SDK's default (latency-only.mjs --linger).
    lingerMs: contender.lingerMs,
  };
  // Who uses the cores while the load runs: on a small machine the tail is mostly CPU contention.
  const pids = { producer: producer.pid, worker: worker.pid, redis: ctx.redisPid, ...(contender.sink ? { sink: ctx.sinks[contender.sink].pid } : {}) };
  const runAt = async (rate, ms) => {
    const tag = newTag();
    await awaitQuiet(ctx.quietCores, ctx.quietWaitMs);
    const background = backgroundMeter();
    const before = cpuSnapshot(pids);
    const sent = await producer.call('open', [{ ...base, rate, durationMs: ms, tag, trace: ctx.trace === true }], ms + 60_000);
    const cpu = cpuBetween(before, cpuSnapshot(pids), sent.total);
    const { backgroundCores } = background();
    const expected = sent.total - sent.errors;
    // Drain: wait until everything sent has arrived, or 20 s.
    await waitFor(`${name} to drain`, async () => (await worker.source.call('count')) >= expected, 20_000, 25).catch(() => {});
    const taken = await worker.source.call('take');
    const latencies = [];
    // With ctx.trace (latency-trace.mjs), each notification's arrival, by its index in the run.
    const arrivals = ctx.trace ? new Array(sent.total).fill(null) : null;
    for (let i = 0; i < taken.ids.length; i++) {
      const match = ID_PATTERN.exec(taken.ids[i]);
      if (match?.[1] !== tag) continue;
      latencies.push(taken.times[i] - (sent.startAt + Number(match[2]) * sent.intervalMs));
      if (arrivals) arrivals[Number(match[2])] ??= taken.times[i];
    }
    const missing = sent.total - latencies.length;
    for (let i = 0; i < missing; i++) latencies.push(Infinity);
    const p = (q) => {
      const value = percentile(latencies, q);
      return Number.isFinite(value) ? value : null;
    };
    const benchCores = Object.values(cpu).reduce((sum, c) => sum + c.coreShare, 0);
    return {
      offeredPerSecond: rate,
      backgroundCores,
      benchCores,
      cpu,
      sent: sent.total,
      missing,
      errors: sent.errors,
      firstError: sent.firstError,
      sendLagMs: sent.sendLagMs,
      p50: p(50),
      p95: p(95),
      p99: p(99),
      max: p(100),
      ...(arrivals ? { traced: { tag, startAt: sent.startAt, intervalMs: sent.intervalMs, arrivals, enqueue: sent.trace } } : {}),
    };
  };
  try {
    await runAt(loads[0].perSecond, warmupMs);
    const results = {};
    for (const load of loads) results[load.label] = await runAt(load.perSecond, durationMs);
    return results;
  } finally {
    await producer.stop();
    await worker.stop();
  }
}

/** The topic of the fan-out figure. */
const TOPIC = 'bench-room';

/**
 * Members notified per second, end to end, for one notification to each of `members` registered
 * users: `kind` `topic` sends one topic notification that the worker fans out (a page at a time,
 * each page's deliveries queued with it), `notifyMany` sends one notification `to` each member in
 * batches of 1000. Both go to the same Gotify worker process, started before the first call, and
 * both look the members up in the registry. The rate is members / (the last arrival at the sink −
 * the first call), so the topic's figure includes its fan-out.
 */
export async function topicRun(ctx, kind, members) {
  const tag = newTag();
  await flush(ctx);
  await ctx.loader.call('topicMembers', [{ redisUrl: ctx.redisUrl, prefix: PREFIX, members, topic: TOPIC, token: GOTIFY_TOKEN }], 300_000);
  await ctx.sinks.gotify.call('take');
  const quiet = await awaitQuiet(ctx.quietCores, ctx.quietWaitMs);
  const worker = await startWorker(ctx, DELIVERY.gotify);
  const background = backgroundMeter();
  try {
    const template = { message: MESSAGE, priority: 5, channels: ['gotify'] };
    const sent = await ctx.loader.call('reachMembers', [{ kind, redisUrl: ctx.redisUrl, prefix: PREFIX, members, topic: TOPIC, tag, template }], 300_000);
    const deadline = Date.now() + 30_000 + (members / 50) * 1000;
    while (Date.now() < deadline && (await worker.source.call('count')) < members) await sleep(50);
    const taken = await worker.source.call('take');
    const times = taken.times.filter((_, i) => ID_PATTERN.exec(taken.ids[i])?.[1] === tag);
    const lastAt = times.length > 0 ? Math.max(...times) : null;
    return {
      kind,
      members,
      received: times.length,
      finished: times.length >= members,
      problems: taken.problems,
      acceptMs: sent.acceptMs,
      perSecond: lastAt !== null && lastAt > sent.startAt ? (times.length * 1000) / (lastAt - sent.startAt) : null,
      backgroundCores: background().backgroundCores,
      backgroundBeforeCores: quiet.backgroundCores,
    };
  } finally {
    await worker.stop();
  }
}

/**
 * Whether a channel works end to end in this tree: a few notifications through a real worker must
 * reach the sink. Returns null when it works, else the reason.
 */
export async function smokeTest(ctx, name) {
  try {
    // deliveryRun is bounded by its own deadline (about 30 s for 20 notifications).
    const result = await deliveryRun(ctx, name, 20);
    if (result.finished && result.problems === 0 && result.unique === 20) return null;
    return `only ${result.unique} of 20 notifications reached the sink intact${result.firstProblem ? ` (${result.firstProblem})` : ''}`;
  } catch (err) {
    return err.message.split('\n').slice(0, 6).join(' | ');
  }
}
