import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, Harness, PUBLISH_KEY } from '../helpers/harness.js';
import type { HttpDouble } from '../helpers/http-double.js';
import { ntfyDouble } from '../helpers/ntfy-double.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

let h: Harness;
afterEach(async () => h?.close());

const auth = { authorization: `Bearer ${PUBLISH_KEY}` };

/** A harness whose ntfy server is a double with access token `token` (none: open to publishers). */
async function ntfyHarness(token?: string, env: Record<string, string> = {}): Promise<HttpDouble> {
  const ntfy = ntfyDouble(token);
  const url = await ntfy.start();
  h = await Harness.create({ noGotify: true, env: { NTFY_URL: `${url}/`, ...(token ? { NTFY_TOKEN: token } : {}), ...env } });
  h.onClose(() => ntfy.close());
  return ntfy;
}

describe('delivery through ntfy', () => {
  it("publishes with ntfy's JSON API to the server root: topic, title, Markdown message, mapped priority, click, tags and the token", async () => {
    const token = `tk_${randomBytes(14).toString('hex')}`;
    const ntfy = await ntfyHarness(token);
    await h.herald.recipients.set('u-1', { ntfy: { topic: 'alice_phone-7' } });
    await h.startWorker(['ntfy']);
    const { id } = await h.herald.notify({
      to: 'u-1',
      channels: ['ntfy'],
      title: 'Build 42',
      message: 'Deploy **done**',
      priority: 8,
      url: 'https://ci.example.org/runs/42',
      category: 'white_check_mark',
      data: { run: 42 },
    });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.attempts).toEqual([expect.objectContaining({ channel: 'ntfy', outcome: 'delivered', statusCode: 200 })]);
    expect(ntfy.requests.map((r) => r.problems)).toEqual([[]]);
    expect(ntfy.requests[0]).toMatchObject({ method: 'POST', path: '/', headers: { authorization: `Bearer ${token}` } });
    expect(ntfy.json(0)).toEqual({
      topic: 'alice_phone-7',
      title: 'Build 42',
      message: 'Deploy **done**',
      priority: 4,
      click: 'https://ci.example.org/runs/42',
      tags: ['white_check_mark'],
      markdown: true,
    });
  });

  it('sends no Authorization header to a server without NTFY_TOKEN', async () => {
    const ntfy = await ntfyHarness();
    await h.herald.recipients.set('u-1', { ntfy: { topic: 'open-topic' } });
    await h.startWorker(['ntfy']);
    const { id } = await h.herald.notify({ to: 'u-1', channels: ['ntfy'], message: 'hello', priority: 0 });
    await h.waitForStatus(id, 'delivered');
    expect(ntfy.requests[0]!.headers.authorization).toBeUndefined();
    expect(ntfy.json(0)).toEqual({ topic: 'open-topic', message: 'hello', priority: 1, markdown: true });
  });

  it('registers a topic as ntfy names them, and refuses one ntfy would not take, naming ntfy.topic', async () => {
    await ntfyHarness();
    const app = await h.app();
    const put = await app.inject({ method: 'PUT', url: '/v1/recipients/u-2', headers: auth, payload: { ntfy: { topic: 'home-alerts_2' } } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ userId: 'u-2', ntfy: { topic: 'home-alerts_2' }, webpush: [] });
    for (const topic of ['a/b', 'with space', '', 'x'.repeat(65)]) {
      const bad = await app.inject({ method: 'PUT', url: '/v1/recipients/u-2', headers: auth, payload: { ntfy: { topic } } });
      expect(bad.statusCode, topic).toBe(400);
      expect(bad.json().error.details.map((d: { field: string }) => d.field)).toEqual(['ntfy.topic']);
    }
    expect((await h.herald.recipients.get('u-2'))?.ntfy).toEqual({ topic: 'home-alerts_2' });
    // A PUT replaces every address: one without the topic (or the webhook URL) removes it.
    await h.herald.recipients.set('u-2', { ntfy: { topic: 'kept-then-dropped' }, webhook: { url: 'https://8.8.8.8/hooks/u-2' } });
    expect(await h.herald.recipients.set('u-2', { email: 'u2@example.org' })).toEqual({ userId: 'u-2', email: 'u2@example.org', webpush: [] });
  });

  it("falls back from a refusing ntfy server to the recipient's webhook, counted per channel in /v1/stats and /metrics", async () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const receiver = webhookReceiver(secret);
    const origin = await receiver.start();
    const ntfy = await ntfyHarness(undefined, { HERALD_WEBHOOK_SECRET: secret });
    h.onClose(() => receiver.close());
    ntfy.fallback = { status: 403, body: '{"code":40301,"http":403,"error":"forbidden"}' };
    await h.herald.recipients.set('u-3', { ntfy: { topic: 'locked' }, webhook: { url: `${origin}/hooks/u-3` }, channels: ['ntfy', 'webhook'] });
    // Every channel's worker: the notification enters on the default chain's first queue and is handed on.
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u-3', message: 'either way' });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.channel).toBe('webhook');
    expect(final.attempts.map((a) => [a.channel, a.outcome, a.code ?? null])).toEqual([
      ['ntfy', 'permanent', 'HERALD_NTFY_HTTP_403'],
      ['webhook', 'delivered', null],
    ]);
    expect(ntfy.requests).toHaveLength(1);
    expect(receiver.requests.map((r) => [r.path, r.problems])).toEqual([['/hooks/u-3', []]]);

    const { channels } = await h.herald.stats(3600);
    expect(Object.keys(channels)).toEqual(['gotify', 'webpush', 'email', 'ntfy', 'webhook', 'inbox']);
    expect(channels.ntfy).toMatchObject({ attempts: 1, delivered: 0, failedAttempts: 1, permanentFailures: 1 });
    expect(channels.webhook).toMatchObject({ attempts: 1, delivered: 1, failedAttempts: 0, successRate: 1 });
    const app = await h.app();
    const metrics = parsePrometheusText((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN_KEY}` } })).body);
    expect(sampleValue(metrics, 'herald_delivery_attempts_total', { channel: 'ntfy', outcome: 'permanent' })).toBe(1);
    expect(sampleValue(metrics, 'herald_delivery_attempts_total', { channel: 'webhook', outcome: 'delivered' })).toBe(1);
    expect(sampleValue(metrics, 'herald_delivery_latency_seconds_count', { channel: 'webhook' })).toBe(1);
  });
});
