import { afterEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Harness } from '../helpers/harness.js';
import { killIfRunning, spawnWorker } from '../helpers/processes.js';

let h: Harness;
let child: ChildProcess | undefined;
afterEach(async () => {
  await killIfRunning(child);
  await h?.close();
});

describe('a worker killed with SIGKILL', () => {
  it('leaves its in-flight delivery to another worker, which completes it', async () => {
    h = await Harness.create({ env: { HERALD_JOB_LOCK_MS: '1500' } });
    await h.register('u');
    h.gotify.answer({ hang: true });
    child = spawnWorker(h.env, 'gotify');
    const { id } = await h.herald.notify({ to: 'u', message: 'survives a crash' });
    await h.gotify.waitForRequests(1, 15_000);
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect((await h.herald.status(id))?.status).toBe('queued');

    await h.startWorker(['gotify']);
    const final = await h.waitForStatus(id, 'delivered', 15_000);
    // The killed attempt left no record; the provider saw the message twice (at least once).
    expect(final.attempts.map((a) => a.outcome)).toEqual(['delivered']);
    expect(h.gotify.requests).toHaveLength(2);
  });
});

/**
 * Stand-in for "the job stalled more than maxStalledCount times": a worker of the test's own takes
 * the next job of `queue` and BullMQ fails it directly.
 */
async function failNextJob(queue: string): Promise<void> {
  const connection = new Redis(h.redisUrl, { maxRetriesPerRequest: null });
  await new Promise((resolve) => {
    const rogue = new Worker(
      queue,
      async () => {
        throw new UnrecoverableError('job stalled more than allowable limit');
      },
      { connection, prefix: h.prefix },
    );
    rogue.on('failed', () => resolve(rogue.close()));
  });
  connection.disconnect();
}

describe('a job the queue failed by itself', () => {
  it('is dead-lettered with its story instead of lying in the failed set', async () => {
    h = await Harness.create();
    const { id } = await h.herald.notify({ to: 'u', message: 'poison' });
    await failNextJob('deliver-gotify');

    const worker = await h.startWorker(['gotify']);
    const final = await h.waitForStatus(id, 'failed');
    expect(final.attempts).toEqual([expect.objectContaining({ channel: 'gotify', outcome: 'transient', code: 'HERALD_JOB_ABANDONED' })]);
    expect((await h.herald.deadLetters.get(id))?.id).toBe(id);
    expect(await worker.sweepFailedJobs()).toBe(0);
    expect(h.gotify.requests).toHaveLength(0);
  });
});

describe('a fan-out page the queue failed by itself', () => {
  it('is queued again by the sweep until the fan-out is done, each member notified once', async () => {
    h = await Harness.create({ env: { HERALD_FANOUT_PAGE_SIZE: '2' } });
    await h.register('ann', 'ben', 'cid');
    for (const member of ['ann', 'ben', 'cid']) await h.herald.topics.add('room:1', member);
    const { id } = await h.herald.notify({ topic: 'room:1', message: 'hello room', channels: ['gotify'] });
    await failNextJob('fan-out');

    // The worker's first sweep, at start, puts the page back; the fan-out then runs to its end.
    await h.startWorker(['gotify']);
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.recipients).toMatchObject({ total: 3, delivered: 3 });
    expect(h.gotify.requests).toHaveLength(3);
    expect(h.logs.lines.filter((line) => line.msg === 'failed fan-out page queued again')).toHaveLength(1);
  });
});
