import { afterEach, describe, expect, it } from 'vitest';
import { Harness, PUBLISH_KEY } from '../helpers/harness.js';
import { PushService, vapidEnv } from '../helpers/push-service.js';

let h: Harness;
afterEach(async () => h?.close());

const auth = { authorization: `Bearer ${PUBLISH_KEY}` };

describe('recipients and presence', () => {
  it('stores, reads and forgets a recipient', async () => {
    h = await Harness.create();
    const app = await h.app();
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/recipients/u-7',
      headers: auth,
      payload: { email: 'bob@example.org', gotify: { token: 'AbCdEfGhIj12345' }, channels: ['email', 'gotify'] },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ userId: 'u-7', email: 'bob@example.org', gotify: { token: '****2345' }, channels: ['email', 'gotify'], webpush: [] });
    expect((await app.inject({ method: 'GET', url: '/v1/recipients/u-7', headers: auth })).json().email).toBe('bob@example.org');
    const bad = await app.inject({ method: 'PUT', url: '/v1/recipients/u-7', headers: auth, payload: { email: 'not an address', channels: ['fax'] } });
    expect(bad.statusCode).toBe(400);
    expect(
      bad
        .json()
        .error.details.map((d: { field: string }) => d.field)
        .sort(),
    ).toEqual(['channels.0', 'email']);
    expect((await app.inject({ method: 'DELETE', url: '/v1/recipients/u-7', headers: auth })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/v1/recipients/u-7', headers: auth })).statusCode).toBe(404);
  });

  it('keeps one subscription per browser endpoint, caps them per user dropping the oldest, and never shows keys', async () => {
    const vapid = vapidEnv();
    h = await Harness.create({ env: { ...vapid, HERALD_WEBPUSH_MAX_SUBSCRIPTIONS: '3' } });
    const push = await new PushService(vapid.VAPID_PUBLIC_KEY!).start();
    h.onClose(() => push.close());
    const app = await h.app();
    const browsers = Array.from({ length: 5 }, () => push.browser());
    const ids: string[] = [];
    for (const browser of browsers) {
      const res = await app.inject({ method: 'POST', url: '/v1/recipients/u-11/webpush', headers: auth, payload: browser.subscription });
      expect(res.statusCode).toBe(201);
      ids.push(res.json().id);
      await new Promise((r) => setTimeout(r, 5));
    }
    const again = await app.inject({ method: 'POST', url: '/v1/recipients/u-11/webpush', headers: auth, payload: browsers[4]!.subscription });
    expect(again.json().id).toBe(ids[4]);
    const recipient = (await app.inject({ method: 'GET', url: '/v1/recipients/u-11', headers: auth })).json();
    expect(recipient.webpush.map((s: { id: string }) => s.id)).toEqual(ids.slice(2));
    expect(JSON.stringify(recipient)).not.toContain(browsers[4]!.subscription.keys.auth);
    expect((await app.inject({ method: 'DELETE', url: `/v1/recipients/u-11/webpush/${ids[3]}`, headers: auth })).statusCode).toBe(204);
    expect((await app.inject({ method: 'DELETE', url: `/v1/recipients/u-11/webpush/${ids[3]}`, headers: auth })).statusCode).toBe(404);
    expect((await h.herald.recipients.get('u-11'))?.webpush?.map((s) => s.id)).toEqual([ids[2], ids[4]]);
  });

  it('masks the Gotify token and endpoint paths in every answer, and delivers with the real ones', async () => {
    const vapid = vapidEnv();
    h = await Harness.create({ env: vapid });
    const push = await new PushService(vapid.VAPID_PUBLIC_KEY!).start();
    h.onClose(() => push.close());
    const app = await h.app();
    const token = 'AsEcReTgOtIfY42';
    const browser = push.browser();
    const endpoint = new URL(browser.subscription.endpoint);
    const masked = `${endpoint.origin}/****${endpoint.pathname.slice(-4)}`;
    const put = await app.inject({ method: 'PUT', url: '/v1/recipients/u-12', headers: auth, payload: { gotify: { token }, channels: ['gotify'] } });
    expect(put.json().gotify).toEqual({ token: '****fY42' });
    await app.inject({ method: 'POST', url: '/v1/recipients/u-12/webpush', headers: auth, payload: browser.subscription });
    const got = await app.inject({ method: 'GET', url: '/v1/recipients/u-12', headers: auth });
    expect(got.json()).toMatchObject({ gotify: { token: '****fY42' }, webpush: [{ endpoint: masked }] });
    // The SDK answers the same way: it is the same path.
    expect(await h.herald.recipients.get('u-12')).toEqual(got.json());
    for (const secret of [token, endpoint.pathname, browser.subscription.keys.auth, browser.subscription.keys.p256dh]) expect(got.body).not.toContain(secret);
    // A short token shows nothing of itself.
    expect((await h.herald.recipients.set('u-13', { gotify: { token: 'Ashort42' } })).gotify).toEqual({ token: '****' });

    await h.startWorker();
    await h.waitForStatus((await h.herald.notify({ to: 'u-12', message: 'to the real token' })).id, 'delivered');
    expect(h.gotify.requests[0]!.headers['x-gotify-key']).toBe(token);
    await h.waitForStatus((await h.herald.notify({ to: 'u-12', message: 'to the real endpoint', channels: ['webpush'] })).id, 'delivered');
    expect(push.received.map((r) => r.path)).toEqual([endpoint.pathname]);
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
    await h.register('u-9');
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
});
