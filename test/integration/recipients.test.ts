import { afterEach, describe, expect, it } from 'vitest';
import { Harness, PUBLISH_KEY } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => h?.close());

const auth = { authorization: `Bearer ${PUBLISH_KEY}` };

describe('recipients and presence', () => {
  it('stores, reads and forgets a recipient', async () => {
    h = await Harness.create();
    const app = await h.app();
    const put = await app.inject({ method: 'PUT', url: '/v1/recipients/u-7', headers: auth, payload: { email: 'bob@example.org', gotify: { token: 'Atok' }, channels: ['email', 'gotify'] } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ userId: 'u-7', email: 'bob@example.org', gotify: { token: 'Atok' }, channels: ['email', 'gotify'], webpush: [] });
    expect((await app.inject({ method: 'GET', url: '/v1/recipients/u-7', headers: auth })).json().email).toBe('bob@example.org');
    const bad = await app.inject({ method: 'PUT', url: '/v1/recipients/u-7', headers: auth, payload: { email: 'not an address', channels: ['fax'] } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.map((d: { field: string }) => d.field).sort()).toEqual(['channels.0', 'email']);
    expect((await app.inject({ method: 'DELETE', url: '/v1/recipients/u-7', headers: auth })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/v1/recipients/u-7', headers: auth })).statusCode).toBe(404);
  });

  it('uses the recipient preferred channel order', async () => {
    h = await Harness.create();
    await h.herald.recipients.set('u-8', { gotify: { token: 'Amine' }, channels: ['webpush', 'gotify'] });
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u-8', message: 'prefers push' });
    const final = await h.waitForStatus(id, 'delivered');
    // Web Push has no address for u-8: skipped and recorded, then Gotify.
    expect(final.attempts.map((a) => [a.channel, a.outcome, a.code ?? null])).toEqual([
      ['webpush', 'skipped', expect.stringMatching(/^HERALD_(NO_ADDRESS|CHANNEL_DISABLED)$/)],
      ['gotify', 'delivered', null],
    ]);
    expect(h.gotify.requests[0]!.headers['x-gotify-key']).toBe('Amine');
  });

  it('skips a notification for an online recipient when skipIfOnline is set, and sends otherwise', async () => {
    h = await Harness.create();
    const app = await h.app();
    await h.startWorker();
    expect((await app.inject({ method: 'PUT', url: '/v1/recipients/u-9/presence', headers: auth, payload: { ttlSeconds: 60 } })).statusCode).toBe(204);
    const skipped = await h.herald.notify({ to: 'u-9', message: 'you are here', skipIfOnline: true });
    const sent = await h.herald.notify({ to: 'u-9', message: 'always', skipIfOnline: false });
    expect((await h.waitForStatus(skipped.id, 'skipped')).attempts).toEqual([expect.objectContaining({ outcome: 'skipped', code: 'HERALD_RECIPIENT_ONLINE' })]);
    await h.waitForStatus(sent.id, 'delivered');
    expect((await app.inject({ method: 'DELETE', url: '/v1/recipients/u-9/presence', headers: auth })).statusCode).toBe(204);
    const away = await h.herald.notify({ to: 'u-9', message: 'you left', skipIfOnline: true });
    await h.waitForStatus(away.id, 'delivered');
    expect(h.gotify.requests.map((r) => JSON.parse(r.body.toString()).message).sort()).toEqual(['always', 'you left']);
    expect((await app.inject({ method: 'PUT', url: '/v1/recipients/u-9/presence', headers: auth, payload: { ttlSeconds: 0 } })).statusCode).toBe(400);
  });

  it('lets presence expire by itself', async () => {
    h = await Harness.create();
    await h.herald.presence.online('u-10', { ttlSeconds: 1 });
    expect(await h.herald.presence.isOnline('u-10')).toBe(true);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await h.herald.presence.isOnline('u-10')).toBe(false);
  });
});
