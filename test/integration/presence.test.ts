import { afterEach, describe, expect, it } from 'vitest';
import { Harness, PUBLISH_KEY, until } from '../helpers/harness.js';
import type { PresenceDevice } from '../../src/types.js';

let h: Harness;
afterEach(async () => h?.close());

const auth = { authorization: `Bearer ${PUBLISH_KEY}` };

const devicesOf = (list: PresenceDevice[]) => list.map((d) => (d.context ? `${d.device}@${d.context}` : d.device)).sort();

/** Sends one notification to `to` and waits for it to end; answers its status and its attempt codes. */
async function outcome(to: string, extra: Record<string, unknown>): Promise<string> {
  const { id } = await h.herald.notify({ to, message: `for ${to}`, channels: ['gotify'], ...extra });
  const final = await h.waitForStatus(id, (s) => ['delivered', 'skipped'].includes(s.status));
  return final.status === 'skipped' ? `skipped ${final.attempts[0]?.code}` : final.status;
}

describe('presence per device', () => {
  it('keeps a user online while any device is: one device going offline leaves the other, and skipIfOnline sees it', async () => {
    h = await Harness.create();
    await h.register('u-1');
    await h.startWorker(['gotify']);
    const { presence } = h.herald;
    await presence.online('u-1', { ttlSeconds: 60, device: 'laptop', context: 'room:42' });
    await presence.online('u-1', { ttlSeconds: 60, device: 'phone' });
    expect(devicesOf(await presence.devices('u-1'))).toEqual(['laptop@room:42', 'phone']);

    await presence.offline('u-1', { device: 'laptop' });
    expect(await presence.isOnline('u-1')).toBe(true);
    expect(devicesOf(await presence.devices('u-1'))).toEqual(['phone']);
    expect(await outcome('u-1', { skipIfOnline: true })).toBe('skipped HERALD_RECIPIENT_ONLINE');

    await presence.offline('u-1', { device: 'phone' });
    expect(await presence.isOnline('u-1')).toBe(false);
    expect(await outcome('u-1', { skipIfOnline: true })).toBe('delivered');
    // Nothing is left behind once the last device is gone.
    const redis = await h.herald.connection();
    expect(await redis.exists(h.herald.keys.presence('u-1'), h.herald.keys.presenceDevices('u-1'), h.herald.keys.presenceContexts('u-1'))).toBe(0);
  });

  it("never lets a shorter ttl from one device shorten another's; every key lives as long as the longest device", async () => {
    h = await Harness.create();
    const { presence, keys } = h.herald;
    const redis = await h.herald.connection();
    await presence.online('u-2', { ttlSeconds: 120, device: 'phone', context: 'room:7' });
    await presence.online('u-2', { ttlSeconds: 1, device: 'laptop', context: 'room:42' });
    for (const key of [keys.presence('u-2'), keys.presenceDevices('u-2'), keys.presenceContexts('u-2')]) {
      expect(await redis.pttl(key), key).toBeGreaterThan(100_000);
    }
    const left = await until(
      () => presence.devices('u-2'),
      (list) => list.length === 1,
    );
    expect(devicesOf(left)).toEqual(['phone@room:7']);
    expect(await presence.isOnline('u-2')).toBe(true);
    // The next write forgets the device whose presence ended, context and all.
    await presence.online('u-2', { ttlSeconds: 120, device: 'phone', context: 'room:8' });
    expect(await redis.zrange(keys.presenceDevices('u-2'), '0', '-1')).toEqual(['phone']);
    expect(await redis.hgetall(keys.presenceContexts('u-2'))).toEqual({ phone: 'room:8' });
  });

  it('skipIfPresentIn skips only a user whose live presence is in that room, with the latest context of each device', async () => {
    h = await Harness.create();
    await h.register('u-3', 'u-4');
    await h.startWorker(['gotify']);
    const { presence } = h.herald;
    await presence.online('u-3', { ttlSeconds: 60, device: 'laptop', context: 'room:42' });
    await presence.online('u-3', { ttlSeconds: 60, device: 'phone' });
    await presence.online('u-4', { ttlSeconds: 60, device: 'phone', context: 'room:7' });

    expect(await outcome('u-3', { skipIfPresentIn: 'room:42' })).toBe('skipped HERALD_RECIPIENT_PRESENT');
    expect(await outcome('u-4', { skipIfPresentIn: 'room:42' })).toBe('delivered');
    expect(await outcome('u-3', { skipIfPresentIn: 'room:7' })).toBe('delivered');

    // The laptop moved to another room: its latest context counts, not the one before.
    await presence.online('u-3', { ttlSeconds: 60, device: 'laptop', context: 'room:7' });
    expect(await outcome('u-3', { skipIfPresentIn: 'room:42' })).toBe('delivered');
    expect(await outcome('u-3', { skipIfPresentIn: 'room:7' })).toBe('skipped HERALD_RECIPIENT_PRESENT');
    // A heartbeat without a context leaves the device in no room.
    await presence.online('u-3', { ttlSeconds: 60, device: 'laptop' });
    expect(await outcome('u-3', { skipIfPresentIn: 'room:7' })).toBe('delivered');

    // A presence that ended no longer counts, while another device keeps the user online.
    await presence.online('u-3', { ttlSeconds: 1, device: 'tablet', context: 'room:9' });
    expect(await outcome('u-3', { skipIfPresentIn: 'room:9' })).toBe('skipped HERALD_RECIPIENT_PRESENT');
    await until(
      () => presence.devices('u-3'),
      (list) => !list.some((d) => d.device === 'tablet'),
    );
    expect(await outcome('u-3', { skipIfPresentIn: 'room:9' })).toBe('delivered');
    expect(await outcome('u-3', { skipIfOnline: true })).toBe('skipped HERALD_RECIPIENT_ONLINE');
    expect(h.gotify.requests.map((r) => JSON.parse(r.body.toString()).message).filter((m: string) => m === 'for u-3')).toHaveLength(4);
  });

  it('keeps a presence written by the previous release (a plain key with a TTL) meaning online until it expires, as the device `default`', async () => {
    h = await Harness.create();
    await h.register('u-5');
    await h.startWorker(['gotify']);
    const { presence, keys } = h.herald;
    const redis = await h.herald.connection();
    // What the previous release's `presence.online('u-5', { ttlSeconds: 60 })` wrote.
    await redis.set(keys.presence('u-5'), '1', 'EX', 60);
    expect(await presence.isOnline('u-5')).toBe(true);
    expect(devicesOf(await presence.devices('u-5'))).toEqual(['default']);
    expect(await outcome('u-5', { skipIfOnline: true })).toBe('skipped HERALD_RECIPIENT_ONLINE');

    // Another device coming and going does not cut it short.
    await presence.online('u-5', { ttlSeconds: 1, device: 'phone', context: 'room:1' });
    await presence.offline('u-5', { device: 'phone' });
    expect(devicesOf(await presence.devices('u-5'))).toEqual(['default']);
    expect(await redis.pttl(keys.presence('u-5'))).toBeGreaterThan(50_000);
    expect(await outcome('u-5', { skipIfOnline: true })).toBe('skipped HERALD_RECIPIENT_ONLINE');

    // Without a device, offline ends every presence, the old one included.
    await presence.offline('u-5');
    expect(await presence.isOnline('u-5')).toBe(false);
    expect(await outcome('u-5', { skipIfOnline: true })).toBe('delivered');
  });

  it('records every device of a burst of concurrent heartbeats; the longest one sets how long the keys live', async () => {
    h = await Harness.create();
    const { presence, keys } = h.herald;
    await Promise.all(Array.from({ length: 50 }, (_, i) => presence.online('u-8', { ttlSeconds: 60 + i, device: `d${i}`, context: `room:${i % 5}` })));
    const devices = await presence.devices('u-8');
    expect(devices).toHaveLength(50);
    expect(devices.at(-1)).toMatchObject({ device: 'd49', context: 'room:4' });
    const redis = await h.herald.connection();
    const longest = Date.parse(devices.at(-1)!.expiresAt);
    for (const key of [keys.presence('u-8'), keys.presenceDevices('u-8'), keys.presenceContexts('u-8')]) {
      expect(await redis.pexpiretime(key), key).toBe(longest);
    }
  });

  it('lets presence expire by itself', async () => {
    h = await Harness.create();
    await h.herald.presence.online('u-6', { ttlSeconds: 1 });
    expect(await h.herald.presence.isOnline('u-6')).toBe(true);
    expect(devicesOf(await h.herald.presence.devices('u-6'))).toEqual(['default']);
    await until(
      () => h.herald.presence.isOnline('u-6'),
      (online) => !online,
    );
    expect(await h.herald.presence.devices('u-6')).toEqual([]);
  });

  it('over HTTP: PUT with a device and context, DELETE ?device=D for one, without it for all; bad input is a 400 naming the field', async () => {
    h = await Harness.create();
    const app = await h.app();
    const url = '/v1/recipients/u-7/presence';
    for (const [device, context] of [
      ['laptop', 'room:42'],
      ['phone', undefined],
    ]) {
      const res = await app.inject({ method: 'PUT', url, headers: auth, payload: { ttlSeconds: 60, device, context } });
      expect(res.statusCode, res.body).toBe(204);
    }
    expect(devicesOf(await h.herald.presence.devices('u-7'))).toEqual(['laptop@room:42', 'phone']);
    expect((await app.inject({ method: 'DELETE', url: `${url}?device=laptop`, headers: auth })).statusCode).toBe(204);
    expect(devicesOf(await h.herald.presence.devices('u-7'))).toEqual(['phone']);

    const bad = [
      { method: 'PUT' as const, url, payload: { ttlSeconds: 60, context: 'x'.repeat(129) }, field: 'context' },
      { method: 'PUT' as const, url, payload: { ttlSeconds: 60, device: '' }, field: 'device' },
      { method: 'PUT' as const, url, payload: { ttlSeconds: 60, room: 'room:1' }, field: 'room' },
      // A misspelt query must not end every device's presence.
      { method: 'DELETE' as const, url: `${url}?devcie=phone`, field: 'devcie' },
      { method: 'DELETE' as const, url: `${url}?device=`, field: 'device' },
    ];
    for (const { method, url: path, payload, field } of bad) {
      const res = await app.inject({ method, url: path, headers: auth, ...(payload ? { payload } : {}) });
      expect(res.statusCode, `${method} ${path}`).toBe(400);
      expect(res.json().error.details.map((d: { field: string }) => d.field)).toEqual([field]);
    }
    expect(devicesOf(await h.herald.presence.devices('u-7'))).toEqual(['phone']);
    expect((await app.inject({ method: 'DELETE', url, headers: auth })).statusCode).toBe(204);
    expect(await h.herald.presence.devices('u-7')).toEqual([]);
  });
});
