import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => h?.close());

describe('delivery through Gotify', () => {
  it('delivers an SDK notification with token, title, Markdown and click extras', async () => {
    h = await Harness.create();
    await h.herald.recipients.set('u-42', { gotify: { token: 'AuserToken' } });
    await h.startWorker();
    const { id, status, duplicate } = await h.herald.notify({ to: 'u-42', title: 'Hi', message: 'Hello **Bob**', priority: 8, url: 'mesh://room/1', category: 'chat', data: { roomId: 1 } });
    expect(status).toBe('queued');
    expect(duplicate).toBe(false);

    const final = await h.waitForStatus(id, 'delivered');
    expect(final.channel).toBe('gotify');
    expect(final.to).toBe('u-42');
    expect(final.attempts).toHaveLength(1);
    expect(final.attempts[0]).toMatchObject({ channel: 'gotify', outcome: 'delivered', statusCode: 200 });

    expect(h.gotify.requests).toHaveLength(1);
    const request = h.gotify.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/message');
    expect(request.headers['x-gotify-key']).toBe('AuserToken');
    expect(h.gotify.json(0)).toEqual({
      title: 'Hi',
      message: 'Hello **Bob**',
      priority: 8,
      extras: {
        'client::display': { contentType: 'text/markdown' },
        'client::notification': { click: { url: 'mesh://room/1' } },
        'android::action': { onReceive: { intentUrl: 'mesh://room/1' } },
        'herald::notification': { id, category: 'chat', data: { roomId: 1 } },
      },
    });
  });

  it('uses GOTIFY_TOKEN for a recipient without a token of its own, and explicit targets over both', async () => {
    h = await Harness.create();
    await h.startWorker();
    const a = await h.herald.notify({ to: 'nobody-registered', message: 'default token' });
    const b = await h.herald.notify({ to: 'nobody-registered', targets: { gotify: { token: 'Aexplicit' } }, message: 'explicit token' });
    await h.waitForStatus(a.id, 'delivered');
    await h.waitForStatus(b.id, 'delivered');
    const tokens = Object.fromEntries(h.gotify.requests.map((r) => [JSON.parse(r.body.toString()).message, r.headers['x-gotify-key']]));
    expect(tokens).toEqual({ 'default token': 'AdefaultToken', 'explicit token': 'Aexplicit' });
  });

  it('retries transient failures (500, 503, timeout) with backoff, then delivers', async () => {
    h = await Harness.create({ env: { HERALD_PROVIDER_TIMEOUT_MS: '300' } });
    h.gotify.answer({ status: 500 }, { status: 503 }, { delayMs: 1500 });
    await h.startWorker(['gotify']);
    const { id } = await h.herald.notify({ to: 'u-1', message: 'eventually' });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.attempts.map((a) => [a.outcome, a.statusCode ?? null, a.code ?? null])).toEqual([
      ['transient', 500, 'HERALD_GOTIFY_HTTP_500'],
      ['transient', 503, 'HERALD_GOTIFY_HTTP_503'],
      ['transient', null, 'HERALD_TIMEOUT'],
      ['delivered', 200, null],
    ]);
    expect(h.gotify.requests).toHaveLength(4);
  });

  it('does not retry a permanent failure (401) and keeps the notification as failed', async () => {
    h = await Harness.create();
    h.gotify.fallback = { status: 401, body: '{"error":"Unauthorized"}' };
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u-1', message: 'bad token', channels: ['gotify'] });
    const final = await h.waitForStatus(id, 'failed');
    expect(final.attempts).toEqual([expect.objectContaining({ channel: 'gotify', outcome: 'permanent', statusCode: 401, code: 'HERALD_GOTIFY_HTTP_401' })]);
    expect(h.gotify.requests).toHaveLength(1);
    const letter = await h.herald.deadLetters.get(id);
    expect(letter?.attempts).toHaveLength(1);
  });

  it('gives up after HERALD_MAX_ATTEMPTS transient failures and keeps it as failed', async () => {
    h = await Harness.create({ env: { HERALD_MAX_ATTEMPTS: '3' } });
    h.gotify.fallback = { status: 503 };
    await h.startWorker();
    const { id } = await h.herald.notify({ to: 'u-1', message: 'never', channels: ['gotify'] });
    const final = await h.waitForStatus(id, 'failed');
    expect(final.attempts.map((a) => a.outcome)).toEqual(['transient', 'transient', 'transient']);
    expect(h.gotify.requests).toHaveLength(3);
    expect(await h.herald.deadLetters.count()).toBe(1);
  });

  it('honours Retry-After on 429 for that delivery', async () => {
    h = await Harness.create();
    h.gotify.answer({ status: 429, headers: { 'retry-after': '1' } });
    await h.startWorker(['gotify']);
    const { id } = await h.herald.notify({ to: 'u-1', message: 'slow down' });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.attempts.map((a) => a.outcome)).toEqual(['transient', 'delivered']);
    const gap = h.gotify.requests[1]!.at - h.gotify.requests[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(950);
  });
});
