import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, PUBLISH_KEY } from '../helpers/harness.js';
import type { HttpDouble } from '../helpers/http-double.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

let h: Harness;
let receiver: HttpDouble;
let origin: string;
afterEach(async () => h?.close());

const auth = { authorization: `Bearer ${PUBLISH_KEY}` };
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

async function webhookHarness(env: Record<string, string> = {}): Promise<void> {
  receiver = webhookReceiver(SECRET);
  origin = await receiver.start();
  h = await Harness.create({ noGotify: true, env: { HERALD_WEBHOOK_SECRET: SECRET, ...env } });
  h.onClose(() => receiver.close());
}

describe('delivery through the webhook channel', () => {
  it("POSTs the notification as JSON to the recipient's URL, signed so that the receiver verifies it with the secret", async () => {
    await webhookHarness();
    await h.herald.recipients.set('u-1', { webhook: { url: `${origin}/hooks/u-1?via=herald` } });
    await h.startWorker(['webhook']);
    const fields = { title: 'New message', message: 'Alice: **hi**', priority: 7, url: 'mesh://room/1', category: 'chat', data: { roomId: 1 } };
    const { id } = await h.herald.notify({ to: 'u-1', channels: ['webhook'], ...fields, collapseKey: 'room-1' });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.attempts).toEqual([expect.objectContaining({ channel: 'webhook', outcome: 'delivered', statusCode: 204 })]);
    // The receiver double verified the signature and the body's shape (its `problems`).
    expect(receiver.requests.map((r) => [r.method, r.path, r.problems])).toEqual([['POST', '/hooks/u-1?via=herald', []]]);
    expect(receiver.requests[0]!.headers['webhook-id']).toBe(id);
    // The notification's own fields, and nothing of Herald's (collapseKey is for Web Push).
    expect(receiver.json(0)).toEqual({ id, ...fields });
  });

  it('signs every try afresh under the same webhook-id, so a receiver can drop a retry it has seen', async () => {
    await webhookHarness();
    receiver.answer({ status: 503 }, { status: 500 });
    await h.herald.recipients.set('u-1', { webhook: { url: `${origin}/hooks/u-1` } });
    await h.startWorker(['webhook']);
    const { id } = await h.herald.notify({ to: 'u-1', channels: ['webhook'], message: 'again' });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.attempts.map((a) => a.code ?? a.outcome)).toEqual(['HERALD_WEBHOOK_HTTP_503', 'HERALD_WEBHOOK_HTTP_500', 'delivered']);
    expect(receiver.requests.map((r) => [r.headers['webhook-id'], r.problems])).toEqual([
      [id, []],
      [id, []],
      [id, []],
    ]);
  });

  it('on 410 removes the URL from the recipient, but only while it is still the URL that was sent to', async () => {
    await webhookHarness();
    const gone = `${origin}/hooks/gone`;
    const registered = async (userId: string, url: string) => {
      await h.herald.recipients.set(userId, { webhook: { url } });
      const { id } = await h.herald.notify({ to: userId, channels: ['webhook'], message: 'x' });
      const redis = await h.herald.connection();
      return { id, token: (await redis.hget(h.herald.keys.record(id), 'token'))! };
    };
    const removal = { removeAddress: { field: 'webhookUrl', value: gone } };
    const stale = await registered('u-moved', gone);
    // The user registered a new URL while the 410 for the old one was on its way.
    await h.herald.recipients.set('u-moved', { webhook: { url: `${origin}/hooks/new-url-0001` } });
    expect(await h.herald.store.transition(stale.id, 'u-moved', stale.token, removal, Date.now())).toBe('applied');
    expect((await h.herald.recipients.get('u-moved'))?.webhook).toEqual({ url: `${origin}/****0001` });
    const current = await registered('u-same', gone);
    expect(await h.herald.store.transition(current.id, 'u-same', current.token, removal, Date.now())).toBe('applied');
    expect((await h.herald.recipients.get('u-same'))?.webhook).toBeUndefined();
  });

  it('refuses a webhook URL that is not https on a public address when it is registered, naming webhook.url without repeating it', async () => {
    await webhookHarness({ HERALD_ALLOW_PRIVATE_ENDPOINTS: '0' });
    const app = await h.app();
    const refused = {
      'http://hooks.example.org/x': 'Must be an https: URL',
      'https://10.1.2.3/hooks/x': 'Must be on a public address',
      'https://169.254.169.254/latest/meta-data/': 'Must be on a public address',
      'https://hooks.example.org:8443/x': 'Must use port 443',
      'https://localhost/x': 'Must be on a public host name',
    };
    for (const [url, message] of Object.entries(refused)) {
      const res = await app.inject({ method: 'PUT', url: '/v1/recipients/u-1', headers: auth, payload: { webhook: { url } } });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error.details).toEqual([{ field: 'webhook.url', message }]);
      expect(res.body).not.toContain(new URL(url).pathname);
    }
    expect(await h.herald.recipients.get('u-1')).toBeNull();

    // A public address is stored; answers show its origin and the last 4 characters of its path.
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/recipients/u-1',
      headers: auth,
      payload: { webhook: { url: 'https://8.8.8.8/hooks/k3y-9a8b7c6d' } },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ userId: 'u-1', webhook: { url: 'https://8.8.8.8/****7c6d' }, webpush: [] });
    expect(put.body).not.toContain('k3y');
  });

  it('refuses at send time a URL stored before the rules applied: permanent, and nothing is sent', async () => {
    await webhookHarness({ HERALD_ALLOW_PRIVATE_ENDPOINTS: '0' });
    const url = `${origin}/hooks/private-path-1234`;
    // Straight into the registry, as if stored by a deployment that allowed private endpoints.
    await h.herald.connection();
    await h.herald.recipientRegistry.set('u-1', { webhook: { url } });
    await h.startWorker(['webhook']);
    const { id } = await h.herald.notify({ to: 'u-1', channels: ['webhook'], message: 'x' });
    const final = await h.waitForStatus(id, 'failed');
    expect(final.attempts).toEqual([expect.objectContaining({ outcome: 'permanent', code: 'HERALD_WEBHOOK_URL_REFUSED' })]);
    expect(receiver.requests).toHaveLength(0);
    // Refused, not gone: the address stays for the operator to see.
    expect((await h.herald.recipients.get('u-1'))?.webhook).toBeDefined();
    expect([JSON.stringify(final), ...h.logs.raw].join('\n')).not.toContain('private-path');
  });
});
