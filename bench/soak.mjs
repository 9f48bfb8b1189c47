/**
 * `npm run soak`: Herald as deployed, for minutes, against a provider that misbehaves on a
 * schedule; fails (exit 1) when a process's memory grows without bound or a notification is lost.
 *
 *   npm run soak                       6 minutes of load (about 8 in all)
 *   npm run soak -- --minutes 30       longer: a slower leak crosses the tolerance
 *   npm run soak -- --rate 200         notifications per second (default 300)
 *   npm run soak -- --keep-logs        keep the processes' logs even when the run passes
 *   npm run soak -- --cluster          on a local Redis Cluster (3 primaries, 3 replicas) with
 *                                      HERALD_SHARDS=4 (--shards N): every node's memory is judged
 *
 * What runs, each a real process on 127.0.0.1: a redis-server (no persistence, noeviction), one
 * `herald api` and two `herald worker --channels gotify`. This process plays the rest:
 * - a Gotify-like provider that cycles every minute through up (answers at once), down (503),
 *   slow (answers after 1.5 s), refusing connections (not listening) and hanging (never answers,
 *   so each request waits for the worker's 2 s deadline);
 * - steady open-loop load over HTTP: `POST /v1/notifications`, each with its own id, explicit
 *   Gotify target and a 90 s ttl;
 * - sampling every 2 s: each process's RSS (/proc/PID/status) and Redis `used_memory`.
 * Every child's stdout and stderr is read as it comes and written to a log file in the work
 * directory: a child whose output pipe nobody reads stalls or buffers without bound, and that is
 * not what the soak measures.
 *
 * At the end the provider comes back for good, the load stops, and the soak waits until every
 * accepted notification has ended (delivered, failed = dead-lettered, expired, or any other final
 * status), reading Herald's own counters (`/metrics`). A notification that never ends is lost.
 * Retention of status records and dead letters is one minute here, so Redis holds a steady amount
 * of finished work instead of a week's; the growth criterion is in lib/growth.mjs.
 *
 * Writes bench/results/soak.json (figures, every sample) and prints a table.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { CLI, REPO_DIR, environmentWithoutHerald, machineInfo, startHeraldApi, startRedis } from './lib/env.mjs';
import { judgeGrowth } from './lib/growth.mjs';
import { rssBytes, spawnProcess, stopChild } from './lib/procs.mjs';
import { RedisCluster } from './lib/redis-cluster.mjs';
import { sleep, waitFor } from './lib/util.mjs';

const { values: options } = parseArgs({
  options: {
    minutes: { type: 'string', default: '6' },
    rate: { type: 'string', default: '300' },
    'keep-logs': { type: 'boolean', default: false },
    cluster: { type: 'boolean', default: false },
    shards: { type: 'string', default: '4' },
    out: { type: 'string', default: join(REPO_DIR, 'bench/results') },
  },
});

const MINUTES = Number(options.minutes);
const RATE = Number(options.rate);
/** The provider's schedule, repeated from the start of the load; one cycle is one minute. */
const CYCLE = [
  { mode: 'up', seconds: 15 },
  { mode: 'down', seconds: 10 },
  { mode: 'up', seconds: 5 },
  { mode: 'slow', seconds: 10 },
  { mode: 'refusing', seconds: 5 },
  { mode: 'hanging', seconds: 10 },
  { mode: 'up', seconds: 5 },
];
const CYCLE_SECONDS = CYCLE.reduce((sum, phase) => sum + phase.seconds, 0);
/** Two cycles: past the one-minute retentions, so Redis has reached its level (lib/growth.mjs). */
const WARMUP_SECONDS = 2 * CYCLE_SECONDS;
const SLOW_ANSWER_MS = 1500;
const PROVIDER_TIMEOUT_MS = 2000;
const TTL_SECONDS = 90;
const SAMPLE_EVERY_MS = 2000;
/** Requests in flight beyond this are not sent (and counted): the load stays open-loop but bounded. */
const MAX_IN_FLIGHT = 512;
const TICK_MS = 20;
const MB = 1024 * 1024;
/** Tolerances of lib/growth.mjs: process RSS, and Redis used_memory. */
const RSS_TOLERANCE = { relative: 0.1, absoluteBytes: 24 * MB };
const REDIS_TOLERANCE = { relative: 0.1, absoluteBytes: 8 * MB };

const PUBLISH_KEY = 'soak-publish-key-0123456789';
const ADMIN_KEY = 'soak-admin-key-0123456789';
const GOTIFY_TOKEN = 'AsoakGotifyToken';
const MESSAGE = 'Alice mentioned you in #release: "Are we still on for the review at 15:00? I pushed the fixes for the flaky upload test."';

function log(message) {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** The provider phase at `seconds` since the load started. */
function phaseAt(seconds) {
  let t = seconds % CYCLE_SECONDS;
  for (const phase of CYCLE) {
    if (t < phase.seconds) return phase.mode;
    t -= phase.seconds;
  }
  return 'up';
}

/**
 * A Gotify-like HTTP server whose behaviour follows `setMode`. It counts requests per mode and
 * remembers every notification id it accepted with 200 (a retry of an accepted one is counted
 * once).
 */
async function startProvider() {
  let mode = 'up';
  const hanging = new Set();
  const sockets = new Set();
  const accepted = new Set();
  const requests = { up: 0, down: 0, slow: 0, hanging: 0 };
  let acceptedAnswers = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const at = mode;
      requests[at] = (requests[at] ?? 0) + 1;
      if (at === 'down') return res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"Service Unavailable"}');
      if (at === 'hanging') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      const answer = () => {
        if (res.destroyed) return;
        const id = notificationId(Buffer.concat(chunks));
        if (id) accepted.add(id);
        acceptedAnswers++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":1}');
      };
      if (at === 'slow') setTimeout(answer, SLOW_ANSWER_MS);
      else answer();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const listen = (port) =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve(server.address().port);
      });
    });
  const port = await listen(0);
  return {
    url: `http://127.0.0.1:${port}`,
    accepted,
    requests,
    get acceptedAnswers() {
      return acceptedAnswers;
    },
    async setMode(next) {
      if (next === mode) return;
      const previous = mode;
      mode = next;
      if (previous === 'hanging') for (const res of hanging) res.destroy();
      if (next === 'refusing') {
        // Not listening, and every open connection dropped: the workers' next connect is refused.
        await new Promise((resolve) => {
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        });
      } else if (previous === 'refusing') {
        await listen(port);
      }
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        if (server.listening) server.close(() => resolve());
        else resolve();
      }),
  };
}

/** The notification id Herald puts in a Gotify message's extras. */
function notificationId(body) {
  try {
    return JSON.parse(body.toString('utf8')).extras?.['herald::notification']?.id ?? null;
  } catch {
    return null;
  }
}

/**
 * Where the soak keeps its data: one redis-server, or (--cluster) a local Redis Cluster whose every
 * node is sampled. `memory()` answers each sampled series: name → bytes.
 */
async function startStore(workDir) {
  if (!options.cluster) {
    const redis = await startRedis(workDir);
    return {
      env: { REDIS_URL: redis.url },
      version: redis.version,
      processes: { 'redis-server': redis.child },
      async usedMemory() {
        return { 'redis used_memory': Number(/used_memory:(\d+)/.exec(await redis.redis.info('memory'))?.[1] ?? Number.NaN) };
      },
      async stop() {
        redis.redis.disconnect();
        await stopChild(redis.child);
      },
    };
  }
  const cluster = await RedisCluster.start();
  const version = /redis_version:(\S+)/.exec(await cluster.nodes[0].command((r) => r.info('server')))?.[1] ?? 'unknown';
  // Each node by its role at the start, so a primary and its replica read as a pair: `redis P1`
  // and `redis P1 replica`, in the order of their first slots.
  const view = await cluster.view();
  const primaries = view.filter((n) => n.role === 'master').sort((a, b) => (a.slots[0]?.[0] ?? 0) - (b.slots[0]?.[0] ?? 0));
  const names = new Map();
  primaries.forEach((primary, i) => {
    names.set(primary.port, `redis P${i + 1}`);
    const replica = view.find((n) => n.primaryId === primary.id);
    if (replica) names.set(replica.port, `redis P${i + 1} replica`);
  });
  const nodeName = (node) => names.get(node.port) ?? `redis ${node.port}`;
  return {
    // HERALD_EVENTS_RETENTION counts the deployment's events, shared among the shards' logs: the
    // default keeps the one-Redis soak's figure in all.
    env: {
      REDIS_CLUSTER_NODES: cluster.seeds,
      HERALD_SHARDS: options.shards,
    },
    version: `${version} (cluster of 3 primaries + 3 replicas, ${options.shards} shards)`,
    // Each node as the sampling loop sees a child process: its pid, and whether it exited.
    processes: Object.fromEntries(
      cluster.nodes.map((node) => [
        `${nodeName(node)} server`,
        {
          pid: node.pid,
          get exitCode() {
            return node.running ? null : 'killed';
          },
        },
      ]),
    ),
    async usedMemory() {
      const used = await cluster.usedMemory();
      return Object.fromEntries(cluster.nodes.map((node) => [`${nodeName(node)} used_memory`, used[node.address] ?? Number.NaN]));
    },
    stop: () => cluster.stop(),
  };
}

function heraldEnv(storeEnv, providerUrl) {
  return {
    ...environmentWithoutHerald(),
    ...storeEnv,
    HERALD_PREFIX: 'soak',
    HERALD_API_KEYS: `${PUBLISH_KEY}:publish,${ADMIN_KEY}:admin`,
    HERALD_HOST: '127.0.0.1',
    HERALD_PORT: '0',
    GOTIFY_URL: providerUrl,
    HERALD_PROVIDER_TIMEOUT_MS: String(PROVIDER_TIMEOUT_MS),
    // Retries reach the provider again within seconds of an outage's end, whether the last channel
    // gives up after HERALD_MAX_ATTEMPTS or retries until the ttl.
    HERALD_BACKOFF_MAX_MS: '5000',
    HERALD_STATUS_RETENTION_SECONDS: '60',
    HERALD_DEAD_LETTER_RETENTION_SECONDS: '60',
    HERALD_LOG_LEVEL: 'info',
  };
}

function startWorker(env, workDir, n) {
  return spawnProcess(process.execPath, [CLI, 'worker', '--channels', 'gotify'], `herald worker ${n}`, {
    env,
    logFile: join(workDir, `herald-worker-${n}.log`),
  });
}

/** Herald's own counters, from /metrics: accepted, and ended by final status. */
async function counters(pool) {
  const { statusCode, body } = await pool.request({ method: 'GET', path: '/metrics', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  const text = await body.text();
  if (statusCode !== 200) throw new Error(`/metrics answered ${statusCode}`);
  const ended = {};
  let accepted = 0;
  for (const line of text.split('\n')) {
    const acceptedMatch = /^herald_notifications_accepted_total(?:\{\})? (\S+)$/.exec(line);
    if (acceptedMatch) accepted = Number(acceptedMatch[1]);
    const endedMatch = /^herald_notifications_ended_total\{status="(\w+)"\} (\S+)$/.exec(line);
    if (endedMatch) ended[endedMatch[1]] = Number(endedMatch[2]);
  }
  return { accepted, ended, endedTotal: Object.values(ended).reduce((a, b) => a + b, 0) };
}

/** Open-loop load: RATE notifications/s from `start` until `stop()` is called. */
function startLoad(pool, runId) {
  const stats = { sent: 0, accepted: 0, duplicates: 0, refused: {}, errors: {}, notSent: 0 };
  let inFlight = 0;
  let next = 0;
  let running = true;
  const startedAt = Date.now();
  const send = async (n) => {
    inFlight++;
    stats.sent++;
    try {
      const body = JSON.stringify({
        id: `soak-${runId}-${n}`,
        message: MESSAGE,
        channels: ['gotify'],
        targets: { gotify: { token: GOTIFY_TOKEN } },
        ttlSeconds: TTL_SECONDS,
      });
      const response = await pool.request({
        method: 'POST',
        path: '/v1/notifications',
        headers: { authorization: `Bearer ${PUBLISH_KEY}`, 'content-type': 'application/json' },
        body,
      });
      const text = await response.body.text();
      if (response.statusCode === 202) {
        if (JSON.parse(text).duplicate) stats.duplicates++;
        else stats.accepted++;
      } else {
        stats.refused[response.statusCode] = (stats.refused[response.statusCode] ?? 0) + 1;
      }
    } catch (err) {
      const code = err?.code ?? 'ERROR';
      stats.errors[code] = (stats.errors[code] ?? 0) + 1;
    } finally {
      inFlight--;
    }
  };
  const done = (async () => {
    while (running) {
      // Catch up to where the schedule says we should be: a late tick sends more, not fewer.
      const due = Math.floor(((Date.now() - startedAt) / 1000) * RATE);
      while (next < due) {
        if (inFlight >= MAX_IN_FLIGHT) stats.notSent++;
        else void send(next);
        next++;
      }
      await sleep(TICK_MS);
    }
    await waitFor('requests in flight to finish', () => inFlight === 0, 30_000);
  })();
  return {
    stats,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

function format(bytes) {
  return bytes === null || bytes === undefined ? '-' : `${(bytes / MB).toFixed(1)} MB`;
}

function printTable(report) {
  const rows = [['', 'start', 'peak', 'end', 'floor 1st half', 'floor 2nd half', 'growth (allowed)', 'trend/min', 'verdict']];
  for (const [name, m] of Object.entries(report.memory)) {
    const [first, last] = m.floors;
    rows.push([
      name,
      format(m.start),
      format(m.peak),
      format(m.end),
      format(first),
      format(last),
      m.growth === null ? '-' : `${format(m.growth)} (${format(m.allowed)})`,
      m.slopePerMinute === null ? '-' : format(m.slopePerMinute),
      m.bounded === null ? 'too short' : m.bounded ? 'bounded' : 'GROWS',
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')}\n`);
  const n = report.notifications;
  process.stdout.write(
    `\nnotifications: sent ${n.sent}, accepted ${n.accepted}; ended ${n.ended}: ${Object.entries(n.byStatus)
      .map(([s, c]) => `${s} ${c}`)
      .join(', ')}; lost ${n.lost}` +
      `\nprovider: ${Object.entries(report.provider.requests)
        .map(([m, c]) => `${m} ${c}`)
        .join(', ')} requests; ${report.provider.uniqueAccepted} notifications accepted\n`,
  );
}

async function main() {
  if (!Number.isFinite(MINUTES) || MINUTES * 60 < WARMUP_SECONDS + 2 * CYCLE_SECONDS) {
    throw new Error(`--minutes must be at least ${(WARMUP_SECONDS + 2 * CYCLE_SECONDS) / 60}: two minutes of warm-up, then two whole cycles to compare`);
  }
  if (!(RATE > 0)) throw new Error('--rate must be a positive number');
  const workDir = mkdtempSync(join(os.tmpdir(), 'herald-soak-'));
  log(`work directory (logs of every process): ${workDir}`);
  const store = await startStore(workDir);
  const provider = await startProvider();
  const env = heraldEnv(store.env, provider.url);
  const api = await startHeraldApi(env, join(workDir, 'herald-api.log'));
  const workers = [startWorker(env, workDir, 1), startWorker(env, workDir, 2)];
  const heraldProcesses = { 'herald api': api.child, 'herald worker 1': workers[0], 'herald worker 2': workers[1] };
  const processes = { ...heraldProcesses, ...store.processes };
  const pool = new Pool(api.url, { connections: 32 });
  const problems = [];

  // Workers are ready when they heartbeat; the API's /readyz says Redis answers.
  const readyStatus = async () => {
    const response = await pool.request({ method: 'GET', path: '/readyz' });
    await response.body.text();
    return response.statusCode;
  };
  await waitFor('herald api ready', async () => (await readyStatus()) === 200, 20_000);
  await sleep(1000);
  for (const [name, child] of Object.entries(processes))
    if (child.exitCode !== null) throw new Error(`${name} exited at start (${child.exitCode}); see ${workDir}`);

  const runId = Date.now().toString(36);
  log(`load ${RATE}/s for ${MINUTES} min; provider cycle ${CYCLE.map((p) => `${p.mode} ${p.seconds}s`).join(', ')}`);
  const samples = Object.fromEntries([...Object.keys(processes), ...Object.keys(await store.usedMemory())].map((name) => [name, []]));
  const startedAt = Date.now();
  const load = startLoad(pool, runId);
  const runMs = MINUTES * 60_000;
  let nextSample = 0;
  while (Date.now() - startedAt < runMs) {
    const seconds = (Date.now() - startedAt) / 1000;
    await provider.setMode(phaseAt(seconds));
    if (Date.now() - startedAt >= nextSample) {
      nextSample += SAMPLE_EVERY_MS;
      for (const [name, child] of Object.entries(processes)) {
        samples[name].push({ t: seconds, value: rssBytes(child.pid) });
        if (child.exitCode !== null && !problems.some((p) => p.startsWith(name))) problems.push(`${name} exited during the run (code ${child.exitCode})`);
      }
      const usedMemory = await store.usedMemory();
      for (const [name, used] of Object.entries(usedMemory)) samples[name].push({ t: seconds, value: Number.isFinite(used) ? used : null });
      const used = Object.values(usedMemory).reduce((sum, bytes) => sum + bytes, 0);
      if (samples['herald api'].length % 15 === 0) {
        log(
          `${Math.round(seconds)} s, provider ${phaseAt(seconds)}: accepted ${load.stats.accepted}, worker RSS ${format(samples['herald worker 1'].at(-1).value)} / ${format(samples['herald worker 2'].at(-1).value)}, api ${format(samples['herald api'].at(-1).value)}, redis ${format(used)}`,
        );
      }
    }
    await sleep(100);
  }
  await provider.setMode('up');
  await load.stop();
  log(`load stopped; waiting for every accepted notification to end (at most ttl ${TTL_SECONDS} s + 60 s)`);

  let final;
  try {
    final = await waitFor(
      'every accepted notification to end',
      async () => {
        const c = await counters(pool);
        return c.endedTotal >= c.accepted && c.accepted >= load.stats.accepted ? c : null;
      },
      (TTL_SECONDS + 60) * 1000,
      1000,
    );
  } catch {
    final = await counters(pool);
  }
  const lost = final.accepted - final.endedTotal;
  if (final.accepted !== load.stats.accepted)
    problems.push(`Herald counted ${final.accepted} accepted notifications; the API answered 202 to ${load.stats.accepted}`);
  if (lost > 0) problems.push(`${lost} accepted notifications never ended (lost)`);
  if ((final.ended.delivered ?? 0) > provider.accepted.size)
    problems.push(`Herald says ${final.ended.delivered} delivered; the provider accepted ${provider.accepted.size}`);

  const stopped = {};
  for (const [name, child] of Object.entries(heraldProcesses)) {
    const at = Date.now();
    const { code, signal } = await stopChild(child, 15_000);
    stopped[name] = { code, signal, ms: Date.now() - at };
    if (code !== 0) problems.push(`${name} did not exit 0 on SIGTERM (code ${code}, signal ${signal})`);
  }

  const memory = {};
  for (const [name, series] of Object.entries(samples)) {
    const tolerance = name.endsWith('used_memory') ? REDIS_TOLERANCE : RSS_TOLERANCE;
    memory[name.endsWith('used_memory') ? name : `${name} RSS`] = judgeGrowth(series, {
      warmupSeconds: WARMUP_SECONDS,
      cycleSeconds: CYCLE_SECONDS,
      endSeconds: runMs / 1000,
      ...tolerance,
    });
  }
  for (const [name, m] of Object.entries(memory)) {
    if (m.bounded === false)
      problems.push(`${name} grows: its floor rose ${format(m.growth)} from the first half of the measured time to the second (allowed ${format(m.allowed)})`);
  }

  const report = {
    finishedAt: new Date().toISOString(),
    machine: machineInfo(os, store.version),
    settings: {
      minutes: MINUTES,
      rate: RATE,
      store: options.cluster ? `Redis Cluster, HERALD_SHARDS=${options.shards}` : 'one redis-server',
      cycle: CYCLE,
      warmupSeconds: WARMUP_SECONDS,
      providerTimeoutMs: PROVIDER_TIMEOUT_MS,
      slowAnswerMs: SLOW_ANSWER_MS,
      ttlSeconds: TTL_SECONDS,
      tolerances: { rss: RSS_TOLERANCE, redis: REDIS_TOLERANCE },
      childOutput: 'read continuously into log files',
    },
    notifications: {
      sent: load.stats.sent,
      accepted: load.stats.accepted,
      achievedRate: Math.round(load.stats.accepted / (runMs / 1000)),
      refusedByStatus: load.stats.refused,
      requestErrors: load.stats.errors,
      notSentApiBehind: load.stats.notSent,
      ended: final.endedTotal,
      byStatus: final.ended,
      lost,
    },
    provider: { requests: provider.requests, uniqueAccepted: provider.accepted.size, acceptedAnswers: provider.acceptedAnswers },
    shutdown: stopped,
    memory,
    problems,
    passed: problems.length === 0,
    samples,
  };

  await pool.close();
  await provider.close();
  await store.stop();
  mkdirSync(options.out, { recursive: true });
  const file = join(options.out, options.cluster ? 'soak-cluster.json' : 'soak.json');
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write('\n');
  printTable(report);
  process.stdout.write(`\nfigures: ${file}\n`);
  if (problems.length > 0) {
    process.stdout.write(`\nSOAK FAILED:\n${problems.map((p) => `  - ${p}`).join('\n')}\nlogs: ${workDir}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write('\nsoak passed: memory bounded, every accepted notification ended\n');
    if (options['keep-logs']) process.stdout.write(`logs: ${workDir}\n`);
    else rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(),
  (err) => {
    process.stderr.write(`soak: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
