/**
 * Cancel by id: a notification that is queued, scheduled, waiting for a retry or between channels
 * ends `canceled`, and the job that would have carried it on sends nothing when it runs; an ended
 * one answers 409 with its status; the SDK, the HTTP route and the CLI agree.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Keys } from '../../src/store/keys.js';
import type { ChannelName } from '../../src/types.js';
import { ADMIN_KEY, Harness, PUBLISH_KEY, rejection, until } from '../helpers/harness.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.js';
import { SmtpDouble } from '../helpers/smtp-double.js';

let h: Harness;
afterEach(async () => h?.close());

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

/** A BullMQ view of one channel's queue on a connection of its own, closed with the harness. */
function queueOf(harness: Harness, channel: ChannelName): Queue {
  const connection = new Redis(harness.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(Keys.queueName(channel), { connection, prefix: harness.prefix });
  harness.onClose(async () => {
    await queue.close();
    connection.disconnect();
  });
  return queue;
}

/** Waits until the queue holds no job at all: every job queued so far has run (and was removed). */
async function drained(queue: Queue): Promise<void> {
  await until(
    () => queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed'),
    (counts) => Object.values(counts).every((n) => n === 0),
  );
}

describe('cancel', () => {
  it('cancels a queued notification: it ends canceled, and its job sends nothing when a worker runs it', async () => {
    h = await Harness.create();
    await h.register('u-1');
    const { id } = await h.herald.notify({ to: 'u-1', message: 'read elsewhere' });
    const status = await h.herald.cancel(id);
    expect(status).toMatchObject({ id, status: 'canceled', to: 'u-1', attempts: [] });
    expect(Date.parse(status.updatedAt)).toBeGreaterThanOrEqual(Date.parse(status.createdAt));

    await h.startWorker(['gotify']);
    await drained(queueOf(h, 'gotify'));
    expect(h.gotify.requests).toHaveLength(0);
    expect((await h.herald.status(id))?.status).toBe('canceled');
  });

  it('cancels a scheduled notification before its time', async () => {
    h = await Harness.create();
    await h.register('u-1');
    const { id, status } = await h.herald.notify({ to: 'u-1', message: 'later', delayMs: 300 });
    expect(status).toBe('scheduled');
    expect((await h.herald.cancel(id)).status).toBe('canceled');
    await h.startWorker(['gotify']);
    await drained(queueOf(h, 'gotify'));
    expect(h.gotify.requests).toHaveLength(0);
    expect((await h.herald.status(id))?.status).toBe('canceled');
  });

  it('cancels a notification waiting for its retry, keeping the attempt it made', async () => {
    // A long backoff: the retry waits in the delayed set until the test promotes it.
    h = await Harness.create({ env: { HERALD_BACKOFF_MS: '60000', HERALD_BACKOFF_MAX_MS: '120000' } });
    await h.register('u-1');
    h.gotify.answer({ status: 503 });
    await h.startWorker(['gotify']);
    const { id } = await h.herald.notify({ to: 'u-1', message: 'flaky', channels: ['gotify'] });
    await h.waitForStatus(id, (s) => s.status === 'delivering' && s.attempts.length === 1);

    const canceled = await h.herald.cancel(id);
    expect(canceled.status).toBe('canceled');
    expect(canceled.attempts).toEqual([expect.objectContaining({ channel: 'gotify', outcome: 'transient', statusCode: 503 })]);

    const queue = queueOf(h, 'gotify');
    for (const job of await queue.getDelayed()) await job.promote();
    await drained(queue);
    expect(h.gotify.requests).toHaveLength(1);
    expect(await h.herald.status(id)).toEqual(canceled);
  });

  it('cancels a notification between channels: the next channel sends nothing', async () => {
    const smtp = await new SmtpDouble().start();
    h = await Harness.create({ env: { SMTP_URL: smtp.url(), MAIL_FROM: 'Herald <noreply@example.org>' } });
    h.onClose(() => smtp.close());
    await h.herald.recipients.set('u-1', { email: 'bob@example.org' });
    h.gotify.fallback = { status: 401 };
    // Only Gotify is served: the hand-off to email waits in its queue.
    await h.startWorker(['gotify']);
    const { id } = await h.herald.notify({ to: 'u-1', message: 'fallback', channels: ['gotify', 'email'] });
    const emailQueue = queueOf(h, 'email');
    await until(
      () => emailQueue.getJobCounts('waiting'),
      (counts) => counts.waiting === 1,
    );
    expect((await h.herald.status(id))?.status).toBe('delivering');

    expect((await h.herald.cancel(id)).status).toBe('canceled');
    await h.startWorker(['email']);
    await drained(emailQueue);
    expect(smtp.transactions).toHaveLength(0);
    expect((await h.herald.status(id))?.status).toBe('canceled');
  });

  it('answers HERALD_ERR_ALREADY_FINISHED with the status for an ended notification, and leaves a dead letter alone', async () => {
    h = await Harness.create({ env: { HERALD_MAX_ATTEMPTS: '1' } });
    await h.register('u-1');
    h.gotify.respond = (request) => (JSON.parse(request.body.toString()).message === 'refused' ? { status: 403 } : undefined);
    await h.startWorker(['gotify']);
    const delivered = await h.herald.notify({ to: 'u-1', message: 'fine', channels: ['gotify'] });
    const failed = await h.herald.notify({ to: 'u-1', message: 'refused', channels: ['gotify'] });
    await h.waitForStatus(delivered.id, 'delivered');
    await h.waitForStatus(failed.id, 'failed');

    const late = await rejection(h.herald.cancel(delivered.id));
    expect({ code: late.code, statusCode: late.statusCode, details: late.details }).toEqual({
      code: 'HERALD_ERR_ALREADY_FINISHED',
      statusCode: 409,
      details: [{ field: 'status', message: 'delivered' }],
    });
    expect(late.message).toContain('delivered');
    const dead = await rejection(h.herald.cancel(failed.id));
    expect(dead.details).toEqual([{ field: 'status', message: 'failed' }]);
    expect(await h.herald.deadLetters.count()).toBe(1);
    expect((await h.herald.deadLetters.get(failed.id))?.id).toBe(failed.id);

    const canceledTwice = await h.herald.notify({ to: 'u-1', message: 'twice', delayMs: 60_000 });
    await h.herald.cancel(canceledTwice.id);
    expect((await rejection(h.herald.cancel(canceledTwice.id))).details).toEqual([{ field: 'status', message: 'canceled' }]);
    expect((await rejection(h.herald.cancel('no-such-id'))).code).toBe('HERALD_ERR_NOT_FOUND');
  });

  it('counts canceled notifications in /v1/stats and /metrics, apart from successes and failures', async () => {
    h = await Harness.create();
    await h.register('u-1');
    for (let i = 0; i < 2; i++) await h.herald.cancel((await h.herald.notify({ to: 'u-1', message: `m${i}`, delayMs: 60_000 })).id);
    const stats = await h.herald.stats();
    expect(stats.notifications).toMatchObject({ accepted: 2, canceled: 2, delivered: 0, failed: 0, successRate: null, failureRate: null });
    const app = await h.app();
    const metrics = parsePrometheusText((await app.inject({ method: 'GET', url: '/metrics', headers: auth(ADMIN_KEY) })).body);
    expect(sampleValue(metrics, 'herald_notifications_ended_total', { status: 'canceled' })).toBe(2);
    expect(sampleValue(metrics, 'herald_notifications_ended_total', { status: 'delivered' })).toBe(0);
  });
});

describe('DELETE /v1/notifications/:id', () => {
  it('answers 200 with the canceled status, 409 with the status in details once ended, 404 for an unknown id, 401 without a key', async () => {
    h = await Harness.create();
    await h.register('u-1');
    const app = await h.app();
    const { id } = await h.herald.notify({ to: 'u-1', message: 'over HTTP', delayMs: 60_000 });

    const canceled = await app.inject({ method: 'DELETE', url: `/v1/notifications/${id}`, headers: auth(PUBLISH_KEY) });
    expect(canceled.statusCode).toBe(200);
    expect(canceled.json()).toMatchObject({ id, status: 'canceled', to: 'u-1', attempts: [] });
    expect(canceled.json()).toEqual(await h.herald.status(id));

    const again = await app.inject({ method: 'DELETE', url: `/v1/notifications/${id}`, headers: auth(PUBLISH_KEY) });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual({
      error: { code: 'HERALD_ERR_ALREADY_FINISHED', message: expect.stringContaining('canceled'), details: [{ field: 'status', message: 'canceled' }] },
    });
    const unknown = await app.inject({ method: 'DELETE', url: '/v1/notifications/nope', headers: auth(PUBLISH_KEY) });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('HERALD_ERR_NOT_FOUND');
    expect((await app.inject({ method: 'DELETE', url: `/v1/notifications/${id}` })).statusCode).toBe(401);
  });
});

describe('herald cancel ID', () => {
  it('prints the canceled status; exits 1 naming the code and the status once the notification has ended', async () => {
    h = await Harness.create();
    await h.register('u-1');
    const { id } = await h.herald.notify({ to: 'u-1', message: 'from the shell', delayMs: 60_000 });
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['dist/src/cli.js', 'cancel', ...args], { env: { ...process.env, ...h.env }, encoding: 'utf8', timeout: 20_000 });

    const first = run(id);
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ id, status: 'canceled' });
    const second = run(id);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain('HERALD_ERR_ALREADY_FINISHED');
    expect(second.stderr).toContain('status: canceled');
    const unknown = run('nope');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('HERALD_ERR_NOT_FOUND');
    const bare = run();
    expect(bare.status).toBe(1);
    expect(bare.stderr).toContain('usage: herald cancel ID');
  });
});
