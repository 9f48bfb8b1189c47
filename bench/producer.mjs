/**
 * Producers, one process per measurement so each starts from the same state:
 *   addbulk — raw BullMQ `Queue#addBulk`, the notification as job data (the ceiling and the naive way);
 *   sdk     — Herald's `notifyMany` in batches;
 *   http    — `POST /v1/notifications` to a `herald api` process, keep-alive, fixed concurrency;
 *   open    — open loop: notifications sent at a fixed rate by the clock, one `notify` (or
 *             `Queue#add`) each, never waiting for an answer before the next is due, so a slow
 *             system cannot slow the offered load down (no coordinated omission);
 *   topicMembers, reachMembers — the topic fan-out figure: registers a topic's members, then
 *             reaches each of them once, by one topic notification or by notifyMany.
 * Closed-loop runs first send an untimed warm-up (JIT, connections, Redis script cache).
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { Herald } from '../dist/src/index.js';
import { Intake } from '../dist/src/queue/intake.js';
import { benchId, nowMs, percentile, serveParent, sleep } from './lib/util.mjs';

/** The notification with index `i` of a run: the id is also the title, so every sink can find it. */
function notification(template, tag, i) {
  const id = benchId(tag, i);
  return { id, title: id, ...template };
}

async function inBatches(count, batch, tag, template, send) {
  for (let from = 0; from < count; from += batch) {
    const items = [];
    for (let i = from; i < Math.min(count, from + batch); i++) items.push(notification(template, tag, i));
    await send(items);
  }
}

/** Runs `send` over a warm-up set, then times it over `count` notifications. */
async function timed({ count, batch, tag, template, warmup }, send) {
  if (warmup > 0) await inBatches(warmup, batch, `${tag}w`, template, send);
  const started = nowMs();
  await inBatches(count, batch, tag, template, send);
  const elapsedMs = nowMs() - started;
  return { count, elapsedMs, perSecond: (count * 1000) / elapsedMs };
}

async function addbulk(spec) {
  const connection = new Redis(spec.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(spec.queue, { connection });
  try {
    return await timed(spec, (items) => queue.addBulk(items.map((n) => ({ name: 'deliver', data: n, opts: { removeOnComplete: true } }))));
  } finally {
    await queue.close();
    await connection.quit();
  }
}

async function sdk(spec) {
  const herald = new Herald({ redis: spec.redisUrl, prefix: spec.prefix, allowPrivateEndpoints: true });
  try {
    return await timed(spec, async (items) => {
      const results = await herald.notifyMany(items);
      const refused = results.find((r) => 'error' in r);
      if (refused) throw new Error(`notifyMany refused an item: ${JSON.stringify(refused.error)}`);
    });
  } finally {
    await herald.close();
  }
}

async function http(spec) {
  const pool = new Pool(spec.url, { connections: spec.concurrency });
  const headers = { authorization: `Bearer ${spec.apiKey}`, 'content-type': 'application/json' };
  // Each of `concurrency` loops keeps one request in flight: a fixed number of keep-alive
  // connections, each sending its next request when the previous one is answered.
  const run = async (tag, count) => {
    let next = 0;
    const loop = async () => {
      while (next < count) {
        const i = next++;
        const response = await pool.request({ path: '/v1/notifications', method: 'POST', headers, body: JSON.stringify(notification(spec.template, tag, i)) });
        const text = await response.body.text();
        if (response.statusCode !== 202) throw new Error(`POST /v1/notifications answered ${response.statusCode}: ${text.slice(0, 300)}`);
      }
    };
    await Promise.all(Array.from({ length: spec.concurrency }, loop));
  };
  try {
    if (spec.warmup > 0) await run(`${spec.tag}w`, spec.warmup);
    const started = nowMs();
    await run(spec.tag, spec.count);
    const elapsedMs = nowMs() - started;
    return { count: spec.count, elapsedMs, perSecond: (spec.count * 1000) / elapsedMs, concurrency: spec.concurrency };
  } finally {
    await pool.close();
  }
}

/**
 * With `spec.trace` (the latency breakdown, lib/latency-trace.mjs): per notification of an open
 * loop, when its enqueue transaction was started (the SDK's Intake#enqueue, after any linger) and
 * with how many others, and when its call was answered.
 */
function enqueueTrace(spec, total) {
  if (!spec.trace) return null;
  const trace = { batchAt: new Float64Array(total), batchSize: new Uint16Array(total), answeredAt: new Float64Array(total) };
  const enqueue = Intake.prototype.enqueue;
  Intake.prototype.enqueue = function (notifications, ...rest) {
    const at = nowMs();
    for (const n of notifications) {
      const i = Number(n.id.slice(n.id.lastIndexOf('.') + 1));
      trace.batchAt[i] = at;
      trace.batchSize[i] = notifications.length;
    }
    return enqueue.call(this, notifications, ...rest);
  };
  trace.restore = () => {
    Intake.prototype.enqueue = enqueue;
  };
  return trace;
}

async function open(spec) {
  let send;
  let close;
  if (spec.target === 'herald') {
    const herald = new Herald({ redis: spec.redisUrl, prefix: spec.prefix, allowPrivateEndpoints: true, enqueueLingerMs: spec.lingerMs });
    await herald.connection();
    send = (n) => herald.notify(n);
    close = () => herald.close();
  } else {
    const connection = new Redis(spec.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(spec.queue, { connection });
    await queue.waitUntilReady();
    send = (n) => queue.add('deliver', n, { removeOnComplete: true });
    close = async () => {
      await queue.close();
      await connection.quit();
    };
  }
  const total = Math.round((spec.rate * spec.durationMs) / 1000);
  const intervalMs = 1000 / spec.rate;
  // The schedule starts a little ahead, so the first sends are not already late.
  const startAt = nowMs() + 20;
  const lags = new Float64Array(total);
  const inFlight = new Set();
  const trace = enqueueTrace(spec, total);
  let errors = 0;
  let firstError;
  let i = 0;
  try {
    while (i < total) {
      const now = nowMs();
      // Every notification whose time has come is sent now, without waiting for earlier answers.
      const due = Math.min(total, Math.floor((now - startAt) / intervalMs) + 1);
      for (; i < due; i++) {
        lags[i] = now - (startAt + i * intervalMs);
        const index = i;
        const pending = send(notification(spec.template, spec.tag, i)).then(
          () => {
            if (trace) trace.answeredAt[index] = nowMs();
          },
          (err) => {
            errors++;
            firstError ??= err.message;
          },
        );
        inFlight.add(pending);
        pending.finally(() => inFlight.delete(pending));
      }
      if (i < total) await sleep(Math.max(0, Math.min(2, startAt + i * intervalMs - nowMs())));
    }
    // Bounded: answers still missing after 10 s are counted as errors by the orchestrator (the
    // sink never sees those notifications).
    await Promise.race([Promise.all(inFlight), sleep(10_000)]);
  } finally {
    trace?.restore();
    await close();
  }
  const sendLagMs = { p50: percentile(lags, 50), p99: percentile(lags, 99), max: percentile(lags, 100) };
  const traced = trace
    ? { lags: Array.from(lags), batchAt: Array.from(trace.batchAt), batchSize: Array.from(trace.batchSize), answeredAt: Array.from(trace.answeredAt) }
    : undefined;
  return { startAt, intervalMs, total, errors, firstError, sendLagMs, trace: traced };
}

/** Member `i` of the benchmark's topic. */
function memberId(i) {
  return `member-${i}`;
}

/** Registers `spec.members` recipients (each with a Gotify token) and puts them in `spec.topic`. Not timed. */
async function topicMembers(spec) {
  const herald = new Herald({ redis: spec.redisUrl, prefix: spec.prefix });
  await herald.connection();
  try {
    for (let from = 0; from < spec.members; from += 500) {
      const batch = Array.from({ length: Math.min(500, spec.members - from) }, (_, k) => memberId(from + k));
      await Promise.all(
        batch.map(async (member) => {
          await herald.recipients.set(member, { gotify: { token: spec.token } });
          await herald.topics.add(spec.topic, member);
        }),
      );
    }
  } finally {
    await herald.close();
  }
}

/**
 * One notification to every member: `spec.kind` `topic` sends one topic notification (the workers
 * fan it out), `notifyMany` one notification `to` each member in batches of 1000. Returns when the
 * first call started (epoch ms, the clock the sink uses) and how long the calls took.
 */
async function reachMembers(spec) {
  const herald = new Herald({ redis: spec.redisUrl, prefix: spec.prefix });
  await herald.connection();
  try {
    const startAt = nowMs();
    if (spec.kind === 'topic') {
      const id = benchId(spec.tag, 0);
      const result = await herald.notify({ id, title: id, topic: spec.topic, ...spec.template });
      if (result.recipients !== spec.members) throw new Error(`the topic notification reached ${result.recipients} of ${spec.members} members`);
    } else {
      for (let from = 0; from < spec.members; from += 1000) {
        const items = Array.from({ length: Math.min(1000, spec.members - from) }, (_, k) => {
          const id = benchId(spec.tag, from + k);
          return { id, title: id, to: memberId(from + k), ...spec.template };
        });
        const results = await herald.notifyMany(items);
        const refused = results.find((r) => 'error' in r);
        if (refused) throw new Error(`notifyMany refused an item: ${JSON.stringify(refused.error)}`);
      }
    }
    return { startAt, acceptMs: nowMs() - startAt };
  } finally {
    await herald.close();
  }
}

serveParent({ addbulk, sdk, http, open, topicMembers, reachMembers });
