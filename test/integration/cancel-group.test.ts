/**
 * Cancel by group: every pending notification of one recipient with one groupKey, found through an
 * index that the enqueue writes in its own script and that every end of a notification cleans, so
 * it never outgrows what is pending.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HeraldError } from '../../src/errors.js';
import type { NotificationInput } from '../../src/types.js';
import { Harness, PUBLISH_KEY } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => h?.close());

const auth = { authorization: `Bearer ${PUBLISH_KEY}` };

/** The ids in the group index of `userId` + `groupKey`, and the index key's time to live (ms). */
async function groupIndex(userId: string, groupKey: string): Promise<{ ids: string[]; pttl: number }> {
  const redis = await h.herald.connection();
  const key = h.herald.keys.group(userId, groupKey);
  return { ids: (await redis.zrange(key, '0', '-1')).sort(), pttl: await redis.pttl(key) };
}

describe('cancelGroup', () => {
  it('cancels every pending notification of that recipient with that groupKey, and only those', async () => {
    h = await Harness.create();
    await h.register('u-1', 'u-2');
    const send = async (input: NotificationInput) => (await h.herald.notify(input)).id;
    const room42 = [
      await send({ to: 'u-1', message: 'a', groupKey: 'room:42' }),
      await send({ to: 'u-1', message: 'b', groupKey: 'room:42' }),
      await send({ to: 'u-1', message: 'c', groupKey: 'room:42', delayMs: 60_000 }),
    ];
    const others = [
      await send({ to: 'u-1', message: 'other room', groupKey: 'room:43' }),
      await send({ to: 'u-2', message: 'other user', groupKey: 'room:42' }),
      await send({ to: 'u-1', message: 'no group' }),
    ];
    expect((await groupIndex('u-1', 'room:42')).ids).toEqual([...room42].sort());

    expect(await h.herald.cancelGroup('u-1', 'room:42')).toBe(3);
    for (const id of room42) expect((await h.herald.status(id))?.status).toBe('canceled');
    for (const id of others) expect((await h.herald.status(id))?.status).toMatch(/^(queued|scheduled)$/);
    expect((await groupIndex('u-1', 'room:42')).ids).toEqual([]);
    expect(await h.herald.cancelGroup('u-1', 'room:42')).toBe(0);

    await h.startWorker(['gotify']);
    for (const id of others) await h.waitForStatus(id, 'delivered');
    const sent = h.gotify.requests.map((r) => JSON.parse(r.body.toString()).message as string).sort();
    expect(sent).toEqual(['no group', 'other room', 'other user']);
  });

  it('cancels a group larger than one page of the index', async () => {
    h = await Harness.create();
    await h.register('u-1');
    const inputs = Array.from({ length: 1200 }, (_, i): NotificationInput => ({ to: 'u-1', message: `m${i}`, groupKey: 'big', delayMs: 60_000 }));
    for (let from = 0; from < inputs.length; from += 1000) await h.herald.notifyMany(inputs.slice(from, from + 1000));
    expect(await h.herald.cancelGroup('u-1', 'big')).toBe(1200);
    expect((await h.herald.stats()).notifications.canceled).toBe(1200);
  });

  it('keeps the index to pending notifications: an end removes it, the key expires with its newest, a replay brings it back', async () => {
    h = await Harness.create({ env: { HERALD_MAX_ATTEMPTS: '1' } });
    await h.register('u-1');
    h.gotify.respond = (request) => (JSON.parse(request.body.toString()).message === 'refused' ? { status: 403 } : undefined);
    const delivered = await h.herald.notify({ to: 'u-1', message: 'fine', groupKey: 'room:1', ttlSeconds: 600 });
    const failed = await h.herald.notify({ to: 'u-1', message: 'refused', groupKey: 'room:1', ttlSeconds: 600, channels: ['gotify'] });
    const pending = await groupIndex('u-1', 'room:1');
    expect(pending.ids).toEqual([delivered.id, failed.id].sort());
    expect(pending.pttl).toBeGreaterThan(0);
    expect(pending.pttl).toBeLessThanOrEqual(600_000);

    const worker = await h.startWorker(['gotify']);
    await h.waitForStatus(delivered.id, 'delivered');
    await h.waitForStatus(failed.id, 'failed');
    expect((await groupIndex('u-1', 'room:1')).ids).toEqual([]);

    // Replayed, the dead letter is pending again, so its group's cancel reaches it again.
    await worker.close(1000);
    await h.herald.deadLetters.replay(failed.id);
    expect((await groupIndex('u-1', 'room:1')).ids).toEqual([failed.id]);
    expect(await h.herald.cancelGroup('u-1', 'room:1')).toBe(1);
    expect((await h.herald.status(failed.id))?.status).toBe('canceled');
  });

  it('drops index entries past their lifetime when the group gets a new one', async () => {
    h = await Harness.create();
    await h.register('u-1');
    const old = await h.herald.notify({ to: 'u-1', message: 'short', groupKey: 'g', ttlSeconds: 1 });
    const redis = await h.herald.connection();
    // As if its lifetime had passed: its score is its expiry.
    await redis.zadd(h.herald.keys.group('u-1', 'g'), Date.now() - 1, old.id);
    const fresh = await h.herald.notify({ to: 'u-1', message: 'new', groupKey: 'g' });
    expect((await groupIndex('u-1', 'g')).ids).toEqual([fresh.id]);
  });

  it('answers POST /v1/notifications/cancel with the number canceled, and 400 naming a bad field', async () => {
    h = await Harness.create();
    await h.register('u-1');
    const app = await h.app();
    await h.herald.notify({ to: 'u-1', message: 'x', groupKey: 'room:7' });
    await h.herald.notify({ to: 'u-1', message: 'y', groupKey: 'room:7' });
    const res = await app.inject({ method: 'POST', url: '/v1/notifications/cancel', headers: auth, payload: { to: 'u-1', groupKey: 'room:7' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ canceled: 2 });

    const bad = await app.inject({ method: 'POST', url: '/v1/notifications/cancel', headers: auth, payload: { to: 'u-1', groupKey: '', extra: 1 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('HERALD_ERR_VALIDATION');
    expect(
      bad
        .json()
        .error.details.map((d: { field: string }) => d.field)
        .sort(),
    ).toEqual(['extra', 'groupKey']);
    const missing = await app.inject({ method: 'POST', url: '/v1/notifications/cancel', headers: auth, payload: { to: 'u-1' } });
    expect(missing.json().error.details).toEqual([{ field: 'groupKey', message: expect.any(String) }]);
    expect((await app.inject({ method: 'POST', url: '/v1/notifications/cancel', payload: { to: 'u-1', groupKey: 'room:7' } })).statusCode).toBe(401);
  });

  it('refuses a groupKey outside 1–128 characters, in notify and in cancelGroup', async () => {
    h = await Harness.create();
    const long = 'k'.repeat(129);
    const enqueue = await h.herald.notify({ to: 'u-1', message: 'x', groupKey: long }).catch((e: unknown) => e);
    expect(enqueue).toBeInstanceOf(HeraldError);
    expect((enqueue as HeraldError).details).toEqual([{ field: 'groupKey', message: expect.any(String) }]);
    const cancel = await h.herald.cancelGroup('u-1', '').catch((e: unknown) => e);
    expect((cancel as HeraldError).code).toBe('HERALD_ERR_VALIDATION');
    expect((cancel as HeraldError).details).toEqual([{ field: 'groupKey', message: expect.any(String) }]);
  });
});
