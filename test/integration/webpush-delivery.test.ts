import { afterEach, describe, expect, it } from 'vitest';
import { HeraldError } from '../../src/errors.js';
import { Harness, PUBLISH_KEY } from '../helpers/harness.js';
import { killIfRunning, spawnWorker } from '../helpers/processes.js';
import { PushService, vapidEnv, type TestBrowser } from '../helpers/push-service.js';

let h: Harness;
let push: PushService;
afterEach(async () => h?.close());

async function setup(env: Record<string, string> = {}): Promise<void> {
  const vapid = vapidEnv();
  h = await Harness.create({ env: { ...vapid, ...env } });
  push = await new PushService(vapid.VAPID_PUBLIC_KEY!).start();
  h.onClose(() => push.close());
}

async function subscribe(userId: string, count: number): Promise<{ browser: TestBrowser; id: string }[]> {
  const browsers = [];
  for (let i = 0; i < count; i++) {
    const browser = push.browser();
    browsers.push({ browser, id: await h.herald.recipients.addWebPush(userId, browser.subscription) });
  }
  return browsers;
}

async function validationDetails(promise: Promise<unknown>): Promise<{ field: string; message: string }[]> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HeraldError);
  expect((err as HeraldError).code).toBe('HERALD_ERR_VALIDATION');
  return (err as HeraldError).details;
}

describe('delivery through Web Push', () => {
  it('reaches every browser of a user with an encrypted payload, VAPID, Urgency, TTL and Topic', async () => {
    await setup();
    const browsers = await subscribe('u-1', 3);
    await h.startWorker(['webpush']);
    const { id } = await h.herald.notify({
      to: 'u-1',
      channels: ['webpush'],
      title: 'Call',
      message: 'Alice is calling',
      priority: 9,
      url: 'mesh://call/7',
      category: 'call',
      data: { callId: 7 },
      collapseKey: 'call-7',
      ttlSeconds: 600,
    });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.channel).toBe('webpush');
    expect(final.attempts.map((a) => [a.outcome, a.statusCode, a.subscriptionId]).sort()).toEqual(browsers.map((b) => ['delivered', 201, b.id]).sort());

    expect(push.received).toHaveLength(3);
    for (const { browser } of browsers) {
      const [request] = push.for(browser);
      expect(request!.problems).toEqual([]);
      expect(request!.payload).toEqual({
        id,
        title: 'Call',
        body: 'Alice is calling',
        url: 'mesh://call/7',
        category: 'call',
        priority: 9,
        data: { callId: 7 },
        // The collapseKey, for the service worker's notification tag.
        tag: 'call-7',
      });
      expect(request!.headers.urgency).toBe('high');
      expect(request!.headers.topic).toBe('call-7');
      expect(Number(request!.headers.ttl)).toBeGreaterThan(590);
      expect(Number(request!.headers.ttl)).toBeLessThanOrEqual(600);
      expect(request!.claims?.aud).toBe(push.origin);
    }
    // One signed token served all three requests to the same push service.
    expect(new Set(push.received.map((r) => r.headers.authorization)).size).toBe(1);
  });

  it('removes subscriptions the push service answers 410 or 404 for; the user is reached through the rest', async () => {
    await setup();
    const [expired, unknown, alive] = await subscribe('u-1', 3);
    push.answer(expired!.browser, { status: 410 }).answer(unknown!.browser, { status: 404 });
    await h.startWorker(['webpush']);
    const { id } = await h.herald.notify({ to: 'u-1', channels: ['webpush'], message: 'hello' });
    const final = await h.waitForStatus(id, 'delivered');
    const bySubscription = Object.fromEntries(final.attempts.map((a) => [a.subscriptionId, [a.outcome, a.code ?? null]]));
    expect(bySubscription).toEqual({
      [expired!.id]: ['gone', 'HERALD_WEBPUSH_HTTP_410'],
      [unknown!.id]: ['gone', 'HERALD_WEBPUSH_HTTP_404'],
      [alive!.id]: ['delivered', null],
    });

    const app = await h.app();
    const res = await app.inject({ method: 'GET', url: '/v1/recipients/u-1', headers: { authorization: `Bearer ${PUBLISH_KEY}` } });
    expect(res.statusCode).toBe(200);
    expect((res.json() as { webpush: { id: string }[] }).webpush.map((s) => s.id)).toEqual([alive!.id]);
    expect(res.body).not.toContain(alive!.browser.subscription.keys.auth);
  });

  it('a user whose only browser is gone ends failed, with the subscription removed', async () => {
    await setup();
    const [only] = await subscribe('u-1', 1);
    push.always(only!.browser, { status: 410 });
    await h.startWorker(['webpush']);
    const { id } = await h.herald.notify({ to: 'u-1', channels: ['webpush'], message: 'hello' });
    const final = await h.waitForStatus(id, 'failed');
    expect(final.attempts).toEqual([expect.objectContaining({ outcome: 'gone', statusCode: 410, subscriptionId: only!.id })]);
    expect((await h.herald.recipients.get('u-1'))?.webpush ?? []).toEqual([]);
    expect(push.received).toHaveLength(1);
  });

  it('on 429 waits Retry-After for that delivery only; other deliveries go on meanwhile', async () => {
    await setup();
    const [slow] = await subscribe('u-slow', 1);
    const [fast] = await subscribe('u-fast', 1);
    push.answer(slow!.browser, { status: 429, headers: { 'retry-after': '1' } });
    await h.startWorker(['webpush']);
    const a = await h.herald.notify({ to: 'u-slow', channels: ['webpush'], message: 'wait' });
    await push.waitForRequests(1);
    const b = await h.herald.notify({ to: 'u-fast', channels: ['webpush'], message: 'go' });
    await h.waitForStatus(b.id, 'delivered');
    const finalA = await h.waitForStatus(a.id, 'delivered');

    expect(finalA.attempts.map((x) => [x.outcome, x.statusCode, x.code ?? null])).toEqual([
      ['transient', 429, 'HERALD_WEBPUSH_HTTP_429'],
      ['delivered', 201, null],
    ]);
    const [first, second] = push.for(slow!.browser);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
    // The other user's notification did not wait behind the rate-limited one.
    expect(push.for(fast!.browser)[0]!.at).toBeLessThan(second!.at);
  });

  it('falls back from Gotify to Web Push when Gotify answers 401', async () => {
    await setup();
    await h.herald.recipients.set('u-1', { gotify: { token: 'ArevokedToken' } });
    const [browser] = await subscribe('u-1', 1);
    h.gotify.fallback = { status: 401, body: '{"error":"Unauthorized"}' };
    await h.startWorker(['gotify', 'webpush']);
    const { id } = await h.herald.notify({ to: 'u-1', channels: ['gotify', 'webpush'], title: 'Hi', message: 'via push' });
    const final = await h.waitForStatus(id, 'delivered');
    expect(final.channel).toBe('webpush');
    expect(final.attempts.map((a) => [a.channel, a.outcome, a.statusCode])).toEqual([
      ['gotify', 'permanent', 401],
      ['webpush', 'delivered', 201],
    ]);
    expect(h.gotify.requests).toHaveLength(1);
    expect(push.for(browser!.browser)[0]!.payload).toMatchObject({ id, title: 'Hi', body: 'via push' });
  });
});

describe('Web Push encryption threads', () => {
  it('a `herald worker` process encrypting in two threads reaches every browser with a payload each can decrypt', async () => {
    await setup({ HERALD_WEBPUSH_CRYPTO_THREADS: '2' });
    const browsers = await subscribe('u-1', 4);
    const child = spawnWorker(h.env, 'webpush');
    h.onClose(() => killIfRunning(child));
    const sent = await Promise.all(Array.from({ length: 5 }, (_, i) => h.herald.notify({ to: 'u-1', channels: ['webpush'], message: `threaded ${i}` })));
    for (const { id } of sent) await h.waitForStatus(id, 'delivered', 20_000);
    expect(push.received).toHaveLength(20);
    expect(push.received.flatMap((r) => r.problems)).toEqual([]);
    for (const { browser } of browsers) {
      expect(
        push
          .for(browser)
          .map((r) => r.payload?.body)
          .sort(),
      ).toEqual(['threaded 0', 'threaded 1', 'threaded 2', 'threaded 3', 'threaded 4']);
    }
  });
});

describe('Web Push fan-out after a partial failure', () => {
  /** The record's pending-retry marker ('' or absent once the job owes no browser a retry). */
  async function pendingRetry(id: string): Promise<string | null> {
    const redis = await h.herald.connection();
    return redis.hget(h.herald.keys.record(id), 'pushRetry');
  }

  async function waitUntilSettled(id: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (((await pendingRetry(id)) ?? '') !== '') {
      if (Date.now() > deadline) throw new Error('the fan-out retry never settled');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('is delivered as soon as one browser accepts; only the browser that failed transiently is retried', async () => {
    await setup();
    const [accepted, limited, refusing] = await subscribe('u-1', 3);
    push.answer(limited!.browser, { status: 429, headers: { 'retry-after': '1' } });
    push.always(refusing!.browser, { status: 400 });
    await h.startWorker(['webpush']);
    const { id } = await h.herald.notify({ to: 'u-1', channels: ['webpush'], message: 'hello' });

    await h.waitForStatus(id, 'delivered');
    // Delivered on the first round, while the rate-limited browser still waits for its retry.
    expect(push.for(limited!.browser)).toHaveLength(1);

    const final = await h.waitForStatus(id, (s) => s.attempts.length === 4);
    await waitUntilSettled(id);
    expect(final.status).toBe('delivered');
    expect(final.attempts.map((a) => [a.subscriptionId, a.outcome, a.statusCode])).toEqual(
      expect.arrayContaining([
        [accepted!.id, 'delivered', 201],
        [limited!.id, 'transient', 429],
        [refusing!.id, 'permanent', 400],
        [limited!.id, 'delivered', 201],
      ]),
    );
    expect(final.attempts.at(-1)).toMatchObject({ subscriptionId: limited!.id, outcome: 'delivered' });
    const [first, second] = push.for(limited!.browser);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
    // Neither the browser that accepted nor the one that refused for good was sent it again.
    expect(push.for(accepted!.browser)).toHaveLength(1);
    expect(push.for(refusing!.browser)).toHaveLength(1);
    expect(push.received.every((r) => r.problems.length === 0)).toBe(true);
  });

  it('keeps retrying the failing browser past HERALD_MAX_ATTEMPTS until the ttl; the notification stays delivered', async () => {
    await setup({ HERALD_MAX_ATTEMPTS: '3' });
    const [accepted, failing] = await subscribe('u-1', 2);
    push.always(failing!.browser, { status: 503 });
    await h.startWorker(['webpush']);
    const { id } = await h.herald.notify({ to: 'u-1', channels: ['webpush'], message: 'hello', ttlSeconds: 1 });

    // An outage of one browser's push service, shorter than the ttl, would cost it a delay only:
    // its retries go on (backoff capped at 100 ms here) until no retry fits before the expiry.
    await h.waitForStatus(id, (s) => s.attempts.filter((a) => a.subscriptionId === failing!.id).length > 3);
    await waitUntilSettled(id);
    const final = await h.herald.status(id);
    expect(final?.status).toBe('delivered');
    const failingOutcomes = final!.attempts.filter((a) => a.subscriptionId === failing!.id).map((a) => a.outcome);
    expect(new Set(failingOutcomes)).toEqual(new Set(['transient']));
    expect(push.for(failing!.browser)).toHaveLength(failingOutcomes.length);
    expect(push.for(accepted!.browser)).toHaveLength(1);
    expect(await h.herald.deadLetters.count()).toBe(0);
  });
});

describe('Web Push payload size', () => {
  it('cuts a long message to fit 4096 bytes and keeps every other field whole', async () => {
    await setup();
    const [browser] = await subscribe('u-1', 1);
    await h.startWorker(['webpush']);
    const data = { blob: 'd'.repeat(1500) };
    const message = 'word '.repeat(800);
    const { id } = await h.herald.notify({ to: 'u-1', channels: ['webpush'], title: 'Long', message, data });
    await h.waitForStatus(id, 'delivered');
    const [request] = push.for(browser!.browser);
    expect(request!.problems).toEqual([]);
    expect(request!.bodyBytes).toBeLessThanOrEqual(4096);
    expect(request!.bodyBytes).toBeGreaterThan(4090);
    const payload = request!.payload as { body: string; data: unknown; title: string };
    expect(payload.body.endsWith('…')).toBe(true);
    expect(message.startsWith(payload.body.slice(0, -1))).toBe(true);
    expect(payload.body.length).toBeLessThan(message.length);
    expect(payload.data).toEqual(data);
    expect(payload.title).toBe('Long');
  });

  it('refuses at enqueue a notification that cannot fit even with an empty message, unless Web Push is not in its channels', async () => {
    await setup();
    const huge = { to: 'u-1', message: 'hi', url: `https://example.org/${'p'.repeat(2000)}`, data: { blob: 'd'.repeat(2000) } };
    expect(await validationDetails(h.herald.notify(huge))).toEqual([{ field: 'data', message: expect.stringContaining('4096') }]);
    expect(await validationDetails(h.herald.notify({ ...huge, channels: ['gotify', 'webpush'] }))).toHaveLength(1);
    const app = await h.app();
    const res = await app.inject({ method: 'POST', url: '/v1/notifications', headers: { authorization: `Bearer ${PUBLISH_KEY}` }, payload: huge });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'HERALD_ERR_VALIDATION', details: [{ field: 'data' }] } });
    // Gotify has no such limit.
    expect((await h.herald.notify({ ...huge, channels: ['gotify'] })).status).toBe('queued');
  });
});

describe('push endpoints that are not public', () => {
  it('are refused at subscribe time, naming the field, and nothing is stored', async () => {
    await setup({ HERALD_ALLOW_PRIVATE_ENDPOINTS: '0' });
    const keys = push.browser().subscription.keys;
    for (const endpoint of [
      'http://push.example.org/x',
      'https://127.0.0.1/x',
      'https://[::1]/x',
      'https://169.254.169.254/latest',
      'https://10.0.0.1/x',
      'https://[::ffff:192.168.0.1]/x',
      'https://localhost/x',
      'https://8.8.8.8:8443/x',
    ]) {
      expect(await validationDetails(h.herald.recipients.addWebPush('u-1', { endpoint, keys })), endpoint).toEqual([
        { field: 'endpoint', message: expect.any(String) },
      ]);
    }
    expect(await h.herald.recipients.get('u-1')).toBeNull();

    const targets = {
      webpush: [
        { endpoint: 'https://8.8.8.8/push/1', keys },
        { endpoint: 'https://192.168.1.20/push/2', keys },
      ],
    };
    expect(await validationDetails(h.herald.notify({ targets, message: 'x' }))).toEqual([{ field: 'targets.webpush.1.endpoint', message: expect.any(String) }]);
    const [ok, bad] = await h.herald.notifyMany([
      { targets: { webpush: [targets.webpush[0]!] }, message: 'fine' },
      { targets, message: 'x' },
    ]);
    expect(ok).toMatchObject({ status: 'queued' });
    expect(bad).toMatchObject({ error: { code: 'HERALD_ERR_VALIDATION', details: [{ field: 'targets.webpush.1.endpoint' }] } });

    const app = await h.app();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/recipients/u-1/webpush',
      headers: { authorization: `Bearer ${PUBLISH_KEY}` },
      payload: { endpoint: 'https://[fd00:ec2::254]/latest', keys },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'HERALD_ERR_VALIDATION', details: [{ field: 'endpoint' }] } });
    expect(res.body).not.toContain('fd00:ec2');
  });

  it('are refused again at send time (a subscription stored before the rules applied), permanently and without a request', async () => {
    await setup({ HERALD_ALLOW_PRIVATE_ENDPOINTS: '0' });
    const browser = push.browser();
    // Straight into the registry, as if stored by a deployment that allowed private endpoints.
    await h.herald.connection();
    await h.herald.recipientRegistry.addWebPush('u-1', browser.subscription);
    await h.startWorker(['webpush']);
    const { id } = await h.herald.notify({ to: 'u-1', channels: ['webpush'], message: 'x' });
    const final = await h.waitForStatus(id, 'failed');
    expect(final.attempts).toEqual([expect.objectContaining({ outcome: 'permanent', code: 'HERALD_WEBPUSH_ENDPOINT_REFUSED' })]);
    expect(push.received).toHaveLength(0);
    expect(h.logs.raw.join('\n')).not.toContain(browser.subscription.endpoint);
  });
});
