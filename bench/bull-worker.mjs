/**
 * The queue's ceiling and the naive way, as a BullMQ worker process:
 *   noop    — a processor that returns at once: what BullMQ itself can move (jobs/s);
 *   fetch   — one global `fetch` per job to the Gotify sink, the way a hand-written worker would;
 *   webpush — `web-push`'s `sendNotification` per job to the push sink;
 *   undici  — not a contender but a reference: one request per job on an undici keep-alive Pool
 *             (what Herald's Gotify adapter uses) with nothing else, the floor of "BullMQ plus one
 *             HTTP request per notification" on this machine.
 * The job data is the notification itself (what a naive producer would put in the job). The
 * worker records when each job finished, which is the ceiling's receive time; the naive workers'
 * deliveries are timed by the sinks like Herald's.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import webpush from 'web-push';
import { nowMs, serveParent } from './lib/util.mjs';

let worker;
let connection;
let done = [];

function processorFor(mode, options) {
  if (mode === 'noop') {
    return async (job) => {
      done.push([job.data.id, nowMs()]);
    };
  }
  const gotifyRequest = (n) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-gotify-key': n.targets.gotify.token },
    body: JSON.stringify({ title: n.title, message: n.message, priority: n.priority, extras: { 'client::display': { contentType: 'text/markdown' } } }),
  });
  if (mode === 'fetch') {
    const url = `${options.gotifyUrl}/message`;
    return async (job) => {
      const response = await fetch(url, gotifyRequest(job.data));
      await response.text();
      if (response.status !== 200) throw new Error(`gotify answered ${response.status}`);
    };
  }
  if (mode === 'undici') {
    const pool = new Pool(options.gotifyUrl, { connections: options.concurrency });
    return async (job) => {
      const response = await pool.request({ path: '/message', ...gotifyRequest(job.data) });
      await response.body.text();
      if (response.statusCode !== 200) throw new Error(`gotify answered ${response.statusCode}`);
    };
  }
  if (mode === 'webpush') {
    const vapidDetails = options.vapid;
    return async (job) => {
      const n = job.data;
      const payload = JSON.stringify({ id: n.id, title: n.title, body: n.message, priority: n.priority });
      await webpush.sendNotification(n.targets.webpush[0], payload, { vapidDetails, TTL: 86_400 });
    };
  }
  throw new Error(`unknown mode ${mode}`);
}

serveParent({
  async start(mode, { redisUrl, queue, concurrency, ...options }) {
    connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    worker = new Worker(queue, processorFor(mode, { ...options, concurrency }), { connection, concurrency });
    worker.on('error', () => {});
    // A failing naive worker would otherwise just look slow: say why, once.
    let reported = false;
    worker.on('failed', (_job, err) => {
      if (!reported) console.error(`bull-worker ${mode}: job failed: ${err?.stack ?? err}`);
      reported = true;
    });
    await worker.waitUntilReady();
    return { pid: process.pid };
  },
  count: () => done.length,
  take() {
    const batch = done;
    done = [];
    return { ids: batch.map(([id]) => id), times: Float64Array.from(batch, ([, at]) => at), problems: 0 };
  },
  async stop() {
    await worker?.close();
    await connection?.quit();
    setImmediate(() => process.exit(0));
  },
});
