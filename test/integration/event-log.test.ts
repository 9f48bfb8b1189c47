/**
 * The event log: every change of a notification's status record appends one event to the
 * deployment's stream, written by the script that makes the change. Each test makes one kind of
 * change, then reads the stream and checks the events against the record the change left.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { parseEventEntry } from '../../src/store/events.js';
import { LUA_DIR } from '../../src/store/lua-loader.js';
import type { HeraldEvent } from '../../src/types.js';
import { Harness, until } from '../helpers/harness.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';
import { readFileSync } from 'node:fs';

let h: Harness;
afterEach(async () => h?.close());

/** Every event of the stream, oldest first, parsed as the API and the SDK parse them. */
async function events(harness: Harness, notificationId?: string): Promise<HeraldEvent[]> {
  const redis = await harness.herald.connection();
  const entries = await redis.xrange(harness.herald.keys.events(), '-', '+');
  const all = entries.map(([id, fields]) => parseEventEntry(id, fields));
  return notificationId === undefined ? all : all.filter((event) => event.notificationId === notificationId);
}

async function eventsUntil(harness: Harness, id: string, count: number): Promise<HeraldEvent[]> {
  return until(
    () => events(harness, id),
    (found) => found.length >= count,
  );
}

describe('the event log', () => {
  it('records acceptance and delivery, each event matching the record: type, status, channel, attempt, recipient', async () => {
    h = await Harness.create();
    await h.register('u-1');
    const { id } = await h.herald.notify({ to: 'u-1', message: 'hello' });
    const accepted = await h.herald.status(id);
    const [first] = await events(h, id);
    expect(first).toEqual({
      id: expect.stringMatching(/^\d+-\d+$/),
      type: 'notification.accepted',
      at: accepted!.createdAt,
      notificationId: id,
      to: 'u-1',
      status: 'queued',
    });

    await h.startWorker(['gotify']);
    const final = await h.waitForStatus(id, 'delivered');
    const [, delivered, ...rest] = await eventsUntil(h, id, 2);
    expect(rest).toEqual([]);
    expect(delivered).toMatchObject({ type: 'notification.delivered', notificationId: id, to: 'u-1', channel: 'gotify', status: 'delivered' });
    expect(delivered!.attempt).toEqual(final.attempts.at(-1));
    expect(Date.parse(delivered!.at)).toBeGreaterThanOrEqual(Date.parse(first!.at));
  });

  it('records each transient attempt that did not end the notification as attempt.failed, then the delivery', async () => {
    h = await Harness.create();
    h.gotify.answer({ status: 503 }, { status: 500 });
    await h.register('u-1');
    await h.startWorker(['gotify']);
    const { id } = await h.herald.notify({ to: 'u-1', message: 'again', channels: ['gotify'] });
    const final = await h.waitForStatus(id, 'delivered');
    const found = await eventsUntil(h, id, 4);
    expect(found.map((event) => event.type)).toEqual(['notification.accepted', 'attempt.failed', 'attempt.failed', 'notification.delivered']);
    expect(found.slice(1, 3).map((event) => [event.channel, event.status, event.attempt])).toEqual([
      ['gotify', 'delivering', final.attempts[0]],
      ['gotify', 'delivering', final.attempts[1]],
    ]);
    expect(found[3]!.attempt).toEqual(final.attempts[2]);
    // Ids increase with the order of the changes.
    expect(found.map((event) => event.id)).toEqual([...found.map((event) => event.id)].sort(byStreamId));
  });

  it('records a dead letter as notification.failed carrying the attempt that ended it, and its replay as notification.replayed', async () => {
    h = await Harness.create();
    h.gotify.fallback = { status: 400, body: '{"error":"bad"}' };
    await h.register('u-1');
    await h.startWorker(['gotify']);
    const { id } = await h.herald.notify({ to: 'u-1', message: 'refused', channels: ['gotify'] });
    const final = await h.waitForStatus(id, 'failed');
    const found = await eventsUntil(h, id, 2);
    expect(found.map((event) => event.type)).toEqual(['notification.accepted', 'notification.failed']);
    expect(found[1]).toMatchObject({ status: 'failed', channel: 'gotify', attempt: final.attempts.at(-1) });
    expect(final.attempts.at(-1)!.outcome).toBe('permanent');

    // Replayed once the provider takes it: notification.replayed, then its delivery.
    h.gotify.fallback = { status: 200, body: '{"id":1}' };
    await h.herald.deadLetters.replay(id);
    await h.waitForStatus(id, 'delivered');
    const after = await eventsUntil(h, id, 4);
    expect(after.map((event) => [event.type, event.status])).toEqual([
      ['notification.accepted', 'queued'],
      ['notification.failed', 'failed'],
      ['notification.replayed', 'queued'],
      ['notification.delivered', 'delivered'],
    ]);
    expect(after[2]).not.toHaveProperty('attempt');
  });

  it('records skipped, canceled and merged notifications', async () => {
    h = await Harness.create();
    const skipped = (await h.herald.notify({ to: 'nobody', message: 'unknown recipient', channels: ['gotify'] })).id;
    await h.register('u-1');
    const canceled = (await h.herald.notify({ to: 'u-1', message: 'soon canceled', delayMs: 60_000 })).id;
    await h.herald.cancel(canceled);
    const digest = { to: 'u-1', groupKey: 'room:1', digest: { windowSeconds: 60 }, channels: ['gotify' as const] };
    const holder = (await h.herald.notify({ ...digest, message: 'first' })).id;
    const merged = (await h.herald.notify({ ...digest, message: 'second' })).id;
    await h.startWorker(['gotify']);
    await h.waitForStatus(skipped, 'skipped');

    const [, skip] = await eventsUntil(h, skipped, 2);
    expect(skip).toMatchObject({ type: 'notification.skipped', status: 'skipped', to: 'nobody' });
    expect(skip!.attempt).toEqual((await h.herald.status(skipped))!.attempts.at(-1));
    expect((await events(h, canceled)).map((event) => [event.type, event.status, event.to])).toEqual([
      ['notification.accepted', 'scheduled', 'u-1'],
      ['notification.canceled', 'canceled', 'u-1'],
    ]);
    expect((await events(h, holder)).map((event) => [event.type, event.status])).toEqual([['notification.accepted', 'scheduled']]);
    expect((await events(h, merged)).map((event) => [event.type, event.status])).toEqual([['notification.merged', 'merged']]);
    // A cancel of a notification that has ended changes nothing, and so records nothing.
    await expect(h.herald.cancel(canceled)).rejects.toThrow();
    expect(await events(h, canceled)).toHaveLength(2);
  });

  it('records the removal of a gone address as subscription.removed, and the topic notification as its recipients are', async () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const receiver = webhookReceiver(secret);
    const origin = await receiver.start();
    h = await Harness.create({ env: { HERALD_WEBHOOK_SECRET: secret } });
    h.onClose(() => receiver.close());
    receiver.fallback = { status: 410 };
    await h.herald.recipients.set('u-gone', { webhook: { url: `${origin}/gone` } });
    await h.startWorker(['webhook', 'gotify']);
    const { id } = await h.herald.notify({ to: 'u-gone', message: 'to a dead URL', channels: ['webhook'] });
    const final = await h.waitForStatus(id, (s) => s.status === 'failed' || s.status === 'skipped');
    const found = await eventsUntil(h, id, 3);
    const removed = found.find((event) => event.type === 'subscription.removed');
    expect(removed).toMatchObject({ channel: 'webhook', to: 'u-gone', attempt: { outcome: 'gone' } });
    expect(found.at(-1)).toMatchObject({ type: `notification.${final.status}`, status: final.status });
    expect((await h.herald.recipients.get('u-gone'))?.webhook).toBeUndefined();

    await h.register('m-1', 'm-2');
    await h.herald.topics.add('room', 'm-1');
    await h.herald.topics.add('room', 'm-2');
    const topic = (await h.herald.notify({ topic: 'room', message: 'to all', channels: ['gotify'] })).id;
    await h.waitForStatus(topic, 'delivered');
    const topicEvents = await eventsUntil(h, topic, 2);
    expect(topicEvents.map((event) => [event.type, event.status, event.to])).toEqual([
      ['notification.accepted', 'queued', undefined],
      ['notification.delivered', 'delivered', undefined],
    ]);
    const children = (await events(h)).filter((event) => event.to === 'm-1' || event.to === 'm-2');
    expect(children.map((event) => `${event.to} ${event.type}`).sort()).toEqual([
      'm-1 notification.accepted',
      'm-1 notification.delivered',
      'm-2 notification.accepted',
      'm-2 notification.delivered',
    ]);
  });

  it('is capped near HERALD_EVENTS_RETENTION', async () => {
    h = await Harness.create({ env: { HERALD_EVENTS_RETENTION: '1000' } });
    await h.register('u-1');
    const batch = Array.from({ length: 1000 }, (_, i) => ({ to: 'u-1', message: `n${i}`, delayMs: 60_000 }));
    await h.herald.notifyMany(batch);
    await h.herald.notifyMany(batch.map((n, i) => ({ ...n, message: `m${i}` })));
    await h.herald.notifyMany(batch.map((n, i) => ({ ...n, message: `o${i}` })));
    const redis = await h.herald.connection();
    const length = await redis.xlen(h.herald.keys.events());
    expect(length).toBeGreaterThanOrEqual(1000);
    expect(length).toBeLessThan(3000);
  });

  it("writes event times as JavaScript's toISOString does (the Lua date conversion)", async () => {
    h = await Harness.create();
    const redis = new Redis(h.redisUrl);
    try {
      const fragment = readFileSync(new URL('includes/emit-event.lua', LUA_DIR), 'utf8');
      const samples = [0, 1, 999, 86_399_999, 951_782_400_000, 1_709_164_800_123, 1_764_511_200_000, 4_102_444_799_999, Date.now()];
      const got = (await redis.eval(
        `${fragment}\nlocal out = {}\nfor i, ms in ipairs(ARGV) do out[i] = isoTime(ms) end\nreturn out`,
        0,
        ...samples,
      )) as string[];
      expect(got).toEqual(samples.map((ms) => new Date(ms).toISOString()));
    } finally {
      redis.disconnect();
    }
  });
});

function byStreamId(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am === bm ? Number(as - bs) : Number(am - bm);
}
