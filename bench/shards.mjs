/**
 * `npm run bench:shards` — delivered/s with 1, 2 and 4 `herald worker` processes × 1 and 4 shards,
 * on one redis-server and on a local Redis Cluster (3 primaries + 3 replicas), in one run on one
 * machine; and Redis commands per delivery for each (INFO commandstats of every primary, before and
 * after, divided by the deliveries).
 *
 *   npm run bench:shards                  2 rounds of every combination (about 6 minutes on 2 cores)
 *   npm run bench:shards -- --quick       1 round, fewer notifications (about 2 minutes)
 *
 * Each run: empty Redis; `count` Gotify notifications queued through the SDK with explicit targets
 * (no registry reads), spread over the shards by their ids; the workers started and ready (their
 * "worker started" line); the queue drained into the Gotify sink (bench/sink.mjs). The rate is the
 * sink's receive times after the first 10 %. The order of the combinations rotates every round.
 * On one Redis with 1 shard the prefix is the plain one; on the cluster with 1 shard it is a hash
 * tag (`{hbs}`), as a single-shard deployment on a cluster must be.
 *
 * Then the cost of the replica wait on the cluster (HERALD_REPLICA_ACKS, 4 shards): `notify()` calls
 * from 32 concurrent callers through the SDK, no worker running, with the wait (1 replica) and
 * without (0), alternating: calls per second and each call's latency.
 *
 * Options: --rounds N, --count N, --concurrency N (per worker process, default 50),
 * --out DIR (default bench/results).
 */
import os from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, GOTIFY_TOKEN, MESSAGE, REPO_DIR, environmentWithoutHerald, machineInfo, startRedis } from './lib/env.mjs';
import { backgroundMeter, cpuMs, forkHelper, spawnProcess, stopChild } from './lib/procs.mjs';
import { RedisCluster } from './lib/redis-cluster.mjs';
import { ID_PATTERN, benchId, median, nowMs, percentile, sleep, steadyRate, waitFor } from './lib/util.mjs';

const { values: options } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    count: { type: 'string' },
    concurrency: { type: 'string', default: '50' },
    out: { type: 'string', default: join(REPO_DIR, 'bench/results') },
  },
  strict: true,
});

const ROUNDS = Number(options.rounds ?? (options.quick ? 1 : 2));
const COUNT = Number(options.count ?? (options.quick ? 4000 : 10_000));
const CONCURRENCY = Number(options.concurrency);
const WORKERS = [1, 2, 4];
const SHARDS = [1, 4];
const PREFIX = 'hbs';

function log(message) {
  process.stderr.write(`[bench:shards ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Rotates a list by the round number, so combinations alternate places from round to round. */
function rotate(list, round) {
  const k = round % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/** The two stores, each with what a run needs: Herald's environment, flush, counters, Redis pids. */
async function startStores(workDir) {
  const single = await startRedis(workDir);
  const cluster = await RedisCluster.start();
  const singleCalls = async () => {
    const calls = {};
    for (const m of (await single.redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2]);
    return calls;
  };
  return {
    version: single.version,
    list: [
      {
        name: 'one Redis',
        env: { REDIS_URL: single.url },
        prefix: () => PREFIX,
        flush: () => single.redis.flushall('SYNC'),
        resetStats: () => single.redis.config('RESETSTAT'),
        commandCalls: singleCalls,
        pids: async () => [single.pid],
        untrackedPids: () => [],
      },
      {
        name: 'Redis Cluster (3+3)',
        env: { REDIS_CLUSTER_NODES: cluster.seeds },
        // One shard on a cluster: every key under one hash tag, so multi-key scripts stay in one slot.
        prefix: (shards) => (shards === 1 ? `{${PREFIX}}` : PREFIX),
        flush: () => cluster.flush(),
        resetStats: () => cluster.resetStats(),
        commandCalls: () => cluster.primaryCommandCalls(),
        pids: async () => (await cluster.primaries()).map((node) => node.pid),
        // The cluster's nodes are not children procs.mjs tracks: the background meter would count them as other programs.
        untrackedPids: () => cluster.nodes.map((node) => node.pid),
      },
    ],
    async stop() {
      single.redis.disconnect();
      await stopChild(single.child);
      await cluster.stop();
    },
  };
}

function heraldEnv(store, shards, gotifyUrl) {
  return {
    ...environmentWithoutHerald(),
    ...store.env,
    HERALD_PREFIX: store.prefix(shards),
    HERALD_SHARDS: String(shards),
    GOTIFY_URL: gotifyUrl,
    HERALD_ALLOW_PRIVATE_ENDPOINTS: '1',
    HERALD_LOG_LEVEL: 'info',
  };
}

/** Queues `count` Gotify notifications through the SDK built from the workers' own environment. */
async function prefill(env, count, tag) {
  const herald = await heraldFrom(env);
  try {
    for (let from = 0; from < count; from += 1000) {
      const batch = [];
      for (let i = from; i < Math.min(count, from + 1000); i++) {
        const id = benchId(tag, i);
        batch.push({ id, title: id, message: MESSAGE, priority: 5, channels: ['gotify'], targets: { gotify: { token: GOTIFY_TOKEN } } });
      }
      const results = await herald.notifyMany(batch);
      const refused = results.find((r) => 'error' in r);
      if (refused) throw new Error(`notifyMany refused an item: ${JSON.stringify(refused.error)}`);
    }
  } finally {
    await herald.close();
  }
}

/** A Herald SDK client built from a `herald` process's environment, as `herald api` builds its own. */
async function heraldFrom(env) {
  const { loadConfig } = await import('../dist/src/config.js');
  const { heraldFromConfig } = await import('../dist/src/run/api.js');
  return heraldFromConfig(loadConfig(env).config);
}

/**
 * `count` notify() calls from `callers` concurrent loops on a store with no worker: calls per
 * second and each call's latency, from the call to its answer.
 */
async function enqueueRun(ctx, store, replicaAcks, count, callers = 32) {
  const tag = `e${(++tagCounter).toString(36)}`;
  const env = { ...heraldEnv(store, 4, ctx.gotifyUrl), HERALD_REPLICA_ACKS: String(replicaAcks) };
  await store.flush();
  const herald = await heraldFrom(env);
  try {
    await herald.connection();
    const template = { message: MESSAGE, priority: 5, channels: ['gotify'], targets: { gotify: { token: GOTIFY_TOKEN } } };
    // Warm-up: connections to every node, scripts loaded.
    await Promise.all(Array.from({ length: callers }, (_, i) => herald.notify({ id: benchId(`${tag}w`, i), ...template })));
    const latencies = new Float64Array(count);
    let next = 0;
    const started = nowMs();
    await Promise.all(
      Array.from({ length: callers }, async () => {
        while (next < count) {
          const i = next++;
          const at = nowMs();
          await herald.notify({ id: benchId(tag, i), ...template });
          latencies[i] = nowMs() - at;
        }
      }),
    );
    const elapsedMs = nowMs() - started;
    return { replicaAcks, count, callers, perSecond: (count * 1000) / elapsedMs, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  } finally {
    await herald.close();
  }
}

/** Starts `herald worker --channels gotify`; resolves once it logged "worker started". */
async function startWorker(env, logFile, n) {
  let started = false;
  const child = spawnProcess(process.execPath, [CLI, 'worker', '--channels', 'gotify', '--concurrency', String(CONCURRENCY)], `herald worker ${n}`, {
    env,
    logFile,
    onLine: (line) => {
      if (line.includes('"worker started"')) started = true;
    },
  });
  await waitFor(
    `herald worker ${n} to start (log: ${logFile})`,
    () => {
      if (child.exitCode !== null) throw new Error(`herald worker exited with ${child.exitCode}; see ${logFile}`);
      return started;
    },
    30_000,
  );
  return child;
}

let tagCounter = 0;

/** Command calls of the store's primaries since its last resetStats, as one figure and as scripts. */
async function callTotals(store) {
  const calls = await store.commandCalls();
  return { calls, total: Object.values(calls).reduce((sum, n) => sum + n, 0), scripts: (calls.evalsha ?? 0) + (calls.eval ?? 0) };
}

/**
 * One measurement: `workers` processes drain `count` notifications over `shards` shards.
 *
 * The workers start on an empty Redis and are all ready before the notifications are queued, so
 * no worker drains the queue alone while the others start. The queueing then runs beside the first
 * deliveries (the SDK queues many times faster than the workers deliver, and the rate leaves the
 * first 10 % out); its commands are measured on their own first, by the same queueing with no
 * worker running, and taken off the run's.
 */
async function run(ctx, store, shards, workers) {
  const tag = `s${(++tagCounter).toString(36)}`;
  const env = heraldEnv(store, shards, ctx.gotifyUrl);
  await store.flush();
  await store.resetStats();
  await prefill(env, COUNT, `${tag}e`);
  const enqueue = await callTotals(store);
  await store.flush();
  await ctx.sink.call('take');
  const children = [];
  try {
    for (let n = 1; n <= workers; n++) children.push(await startWorker(env, join(ctx.workDir, `worker-${tag}-${n}.log`), n));
    await store.resetStats();
    const redisPids = await store.pids();
    const cpuBefore = [...children.map((c) => cpuMs(c.pid)), ...redisPids.map(cpuMs)];
    // What other programs used of the cores meanwhile: on a shared machine, the rates move with it.
    const background = backgroundMeter();
    const untracked = () => store.untrackedPids().reduce((sum, pid) => sum + (cpuMs(pid) ?? 0), 0);
    const untrackedBefore = { ms: untracked(), at: Date.now() };
    await prefill(env, COUNT, tag);
    const deadline = Date.now() + 30_000 + (COUNT / 100) * 1000;
    let received = 0;
    while (Date.now() < deadline && received < COUNT) {
      received = await ctx.sink.call('count');
      await sleep(50);
    }
    const cpuAfter = [...children.map((c) => cpuMs(c.pid)), ...redisPids.map(cpuMs)];
    const untrackedCores = (untracked() - untrackedBefore.ms) / (Date.now() - untrackedBefore.at);
    const backgroundCores = Math.max(0, background().backgroundCores - untrackedCores);
    const all = await callTotals(store);
    const taken = await ctx.sink.call('take');
    const times = taken.times.filter((_, i) => ID_PATTERN.exec(taken.ids[i])?.[1] === tag);
    const unique = new Set(taken.ids.filter((id) => ID_PATTERN.exec(id)?.[1] === tag)).size;
    const cpu = cpuAfter.map((after, i) => (after ?? 0) - (cpuBefore[i] ?? 0));
    const perDelivery = (n) => (unique > 0 ? n / unique : null);
    return {
      store: store.name,
      shards,
      workers,
      count: COUNT,
      received: times.length,
      unique,
      finished: unique >= COUNT,
      perSecond: steadyRate(times),
      backgroundCores,
      // What the primaries ran for the deliveries (BullMQ's fetches and moves, Herald's scripts,
      // idle polls), per notification delivered; the queueing's own commands taken off.
      commandsPerDelivery: perDelivery(all.total - enqueue.total),
      scriptsPerDelivery: perDelivery(all.scripts - enqueue.scripts),
      enqueueCommandsPerNotification: enqueue.total / COUNT,
      // CPU while queueing and draining: the workers', and the Redis primaries' (queueing included).
      workerCpuMsPerDelivery: perDelivery(cpu.slice(0, workers).reduce((a, b) => a + b, 0)),
      redisCpuMsPerDelivery: perDelivery(cpu.slice(workers).reduce((a, b) => a + b, 0)),
      topCommands: Object.entries(all.calls)
        .map(([name, n]) => [name, n - (enqueue.calls[name] ?? 0)])
        .sort((a, b) => b[1] - a[1])
        .slice(0, 6)
        .map(([name, n]) => `${name} ${(n / Math.max(1, unique)).toFixed(2)}`),
    };
  } finally {
    await Promise.all(children.map((child) => stopChild(child, 20_000)));
  }
}

function printTable(rows) {
  const header = [
    'store',
    'shards',
    'workers',
    'delivered/s (median)',
    'rounds',
    'Redis commands/delivery',
    'scripts/delivery',
    'worker CPU ms/delivery',
    'Redis CPU ms/delivery',
    'other programs, cores',
  ];
  const lines = [
    header,
    ...rows.map((r) => [
      r.store,
      String(r.shards),
      String(r.workers),
      r.perSecond === null ? '-' : String(Math.round(r.perSecond)),
      r.rounds,
      fmt(r.commandsPerDelivery),
      fmt(r.scriptsPerDelivery),
      fmt(r.workerCpuMsPerDelivery, 3),
      fmt(r.redisCpuMsPerDelivery, 3),
      fmt(r.backgroundCores),
    ]),
  ];
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  for (const line of lines) process.stdout.write(`${line.map((cell, i) => (i < 1 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')}\n`);
}

function fmt(value, digits = 2) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '-';
}

async function main() {
  const startedAt = Date.now();
  const workDir = mkdtempSync(join(os.tmpdir(), 'herald-bench-shards-'));
  log(`work dir (logs): ${workDir}`);
  const stores = await startStores(workDir);
  const sink = await forkHelper(join(REPO_DIR, 'bench/sink.mjs'), 'gotify-sink', { logFile: join(workDir, 'sink.log') });
  const { port } = await sink.call('start', ['gotify']);
  const ctx = { workDir, sink, gotifyUrl: `http://127.0.0.1:${port}` };
  const combos = stores.list.flatMap((store) => SHARDS.flatMap((shards) => WORKERS.map((workers) => ({ store, shards, workers }))));
  const raw = [];
  let succeeded = false;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const { store, shards, workers } of rotate(combos, round * 5)) {
        const result = await run(ctx, store, shards, workers);
        raw.push({ round, ...result });
        log(
          `round ${round + 1} ${store.name}, ${shards} shard(s), ${workers} worker(s): ${Math.round(result.perSecond ?? 0)}/s${result.finished ? '' : ` (unfinished: ${result.unique}/${COUNT})`}, ${fmt(result.commandsPerDelivery)} commands/delivery`,
        );
      }
    }
    const rows = combos.map(({ store, shards, workers }) => {
      const mine = raw.filter((r) => r.store === store.name && r.shards === shards && r.workers === workers);
      return {
        store: store.name,
        shards,
        workers,
        perSecond: median(mine.map((r) => r.perSecond)),
        rounds: mine.map((r) => Math.round(r.perSecond ?? 0)).join(' / '),
        commandsPerDelivery: median(mine.map((r) => r.commandsPerDelivery)),
        scriptsPerDelivery: median(mine.map((r) => r.scriptsPerDelivery)),
        enqueueCommandsPerNotification: median(mine.map((r) => r.enqueueCommandsPerNotification)),
        workerCpuMsPerDelivery: median(mine.map((r) => r.workerCpuMsPerDelivery)),
        redisCpuMsPerDelivery: median(mine.map((r) => r.redisCpuMsPerDelivery)),
        backgroundCores: median(mine.map((r) => r.backgroundCores)),
        finished: mine.every((r) => r.finished),
      };
    });
    const cluster = stores.list.find((store) => store.env.REDIS_CLUSTER_NODES);
    const waits = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const replicaAcks of rotate([1, 0], round)) {
        const result = await enqueueRun(ctx, cluster, replicaAcks, COUNT);
        waits.push({ round, ...result });
        log(`round ${round + 1} replica wait ${replicaAcks}: ${Math.round(result.perSecond)} notify/s, p50 ${fmt(result.p50)} ms, p99 ${fmt(result.p99)} ms`);
      }
    }
    const replicaWait = [1, 0].map((replicaAcks) => {
      const mine = waits.filter((w) => w.replicaAcks === replicaAcks);
      return {
        replicaAcks,
        perSecond: median(mine.map((w) => w.perSecond)),
        rounds: mine.map((w) => Math.round(w.perSecond)).join(' / '),
        p50: median(mine.map((w) => w.p50)),
        p99: median(mine.map((w) => w.p99)),
      };
    });
    process.stdout.write('\n');
    printTable(rows);
    process.stdout.write(`\nreplica wait on the cluster (4 shards, ${COUNT} notify() calls from 32 callers):\n`);
    for (const w of replicaWait)
      process.stdout.write(
        `  HERALD_REPLICA_ACKS=${w.replicaAcks}: ${Math.round(w.perSecond)} calls/s (${w.rounds}), p50 ${fmt(w.p50)} ms, p99 ${fmt(w.p99)} ms\n`,
      );
    mkdirSync(options.out, { recursive: true });
    const file = join(options.out, 'shards.json');
    writeFileSync(
      file,
      `${JSON.stringify({ finishedAt: new Date().toISOString(), machine: machineInfo(os, stores.version), settings: { rounds: ROUNDS, count: COUNT, concurrency: CONCURRENCY }, rows, replicaWait, raw, waits }, null, 2)}\n`,
    );
    log(`wrote ${file} in ${Math.round((Date.now() - startedAt) / 1000)} s`);
    succeeded = rows.every((r) => r.finished);
    if (!succeeded) process.exitCode = 1;
  } finally {
    await sink.stop();
    await stores.stop();
    if (succeeded) rmSync(workDir, { recursive: true, force: true });
    else log(`logs kept in ${workDir}`);
  }
}

main().then(
  () => process.exit(),
  (err) => {
    process.stderr.write(`bench:shards: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
