import type { Redis } from 'ioredis';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ADMIN_KEY, Harness, PUBLISH_KEY, until } from '../helpers/harness.js';
import { appendEvent, EventReceiver } from '../helpers/event-log.js';

let h: Harness;
let app: FastifyInstance;
afterEach(async () => h?.close());

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

/** Fast retries, so that an outage of a few answers costs milliseconds. */
const FAST_RETRIES = { HERALD_EVENT_WEBHOOK_BACKOFF_MS: '20', HERALD_EVENT_WEBHOOK_BACKOFF_MAX_MS: '100', HERALD_JOB_LOCK_MS: '1000' };

async function setUp(env: Record<string, string> = {}): Promise<void> {
  h = await Harness.create({ env: { ...FAST_RETRIES, ...env } });
  app = await h.app();
}

async function receiver(): Promise<{ receiver: EventReceiver; origin: string }> {
  const r = new EventReceiver();
  const origin = await r.double.start();
  h.onClose(() => r.double.close());
  return { receiver: r, origin };
}

/** Registers an endpoint through the API and hands its secret to the receiver. */
async function register(r: EventReceiver, url: string, events: string[]): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/v1/webhooks', headers: admin, payload: { url, events } });
  expect(res.statusCode).toBe(201);
  const body = res.json<{ id: string; secret: string }>();
  r.secret = body.secret;
  return body.id;
}

async function append(type: string, notificationId = 'n-1'): Promise<string> {
  return appendEvent((await h.herald.connection()) as Redis, h.prefix, { type, notificationId, to: 'u-1' });
}

async function listed(): Promise<Record<string, unknown>[]> {
  return (await app.inject({ method: 'GET', url: '/v1/webhooks', headers: admin })).json<{ items: Record<string, unknown>[] }>().items;
}

describe('event webhook endpoints', () => {
  it('answers the secret once at creation; the list, the logs and errors never show it', async () => {
    await setUp();
    const { receiver: r, origin } = await receiver();
    const res = await app.inject({ method: 'POST', url: '/v1/webhooks', headers: admin, payload: { url: `${origin}/hook`, events: ['*'] } });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const created = res.json<{ id: string; url: string; events: string[]; secret: string }>();
    expect(created).toEqual(expect.objectContaining({ url: `${origin}/hook`, events: ['*'] }));
    // whsec_ and the base64 of 32 random bytes, as the Standard Webhooks specification asks.
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(created.secret.slice(6), 'base64')).toHaveLength(32);
    r.secret = created.secret;

    // A delivery that fails once and then succeeds, with debug logs on: every path that logs.
    r.double.answer({ status: 500 });
    await h.startWorker(['gotify']);
    const id = await append('notification.accepted');
    await until(
      async () => r.ids(),
      (ids) => ids.length === 2,
    );
    expect(r.double.requests.map((req) => req.problems)).toEqual([[], []]);

    const list = await app.inject({ method: 'GET', url: '/v1/webhooks', headers: admin });
    expect(list.json()).toEqual({ items: [expect.objectContaining({ id: created.id, url: `${origin}/hook`, events: ['*'] })] });
    expect(list.body).not.toContain(created.secret.slice(6));
    expect(list.json().items[0]).not.toHaveProperty('secret');
    await h.close();
    expect(h.logs.raw.length).toBeGreaterThan(0);
    expect(h.logs.raw.join('\n')).not.toContain(created.secret.slice(6));
    expect(id).toMatch(/^\d+-\d+$/);
  });

  it('needs an admin key', async () => {
    await setUp();
    const body = { url: 'https://hooks.example.org/x', events: ['*'] };
    expect((await app.inject({ method: 'POST', url: '/v1/webhooks', payload: body })).statusCode).toBe(401);
    const publish = { authorization: `Bearer ${PUBLISH_KEY}` };
    expect((await app.inject({ method: 'POST', url: '/v1/webhooks', headers: publish, payload: body })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/v1/webhooks', headers: publish })).statusCode).toBe(403);
    expect((await app.inject({ method: 'DELETE', url: '/v1/webhooks/wh_1', headers: publish })).statusCode).toBe(403);
  });

  it('refuses a URL on a private address with HERALD_ERR_WEBHOOK_URL_REFUSED, unless HERALD_ALLOW_PRIVATE_ENDPOINTS=1', async () => {
    await setUp({ HERALD_ALLOW_PRIVATE_ENDPOINTS: '0' });
    for (const url of [
      'https://127.0.0.1/hook',
      'https://10.1.2.3/hook',
      'https://169.254.169.254/latest',
      'http://93.184.216.34/hook',
      'https://localhost/x',
    ]) {
      const res = await app.inject({ method: 'POST', url: '/v1/webhooks', headers: admin, payload: { url, events: ['*'] } });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error).toEqual(
        expect.objectContaining({ code: 'HERALD_ERR_WEBHOOK_URL_REFUSED', details: [expect.objectContaining({ field: 'url' })] }),
      );
      // The refusal does not repeat the URL (its path may be a capability).
      expect(res.json().error.message).not.toContain('/hook');
    }
    expect(await listed()).toEqual([]);
  });

  it('validates the events filter against the event types', async () => {
    await setUp();
    const post = (payload: unknown) => app.inject({ method: 'POST', url: '/v1/webhooks', headers: admin, payload: payload as object });
    const bad = await post({ url: 'http://127.0.0.1:9/x', events: ['notification.delivered', 'notification.deliverd'] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toEqual(expect.objectContaining({ code: 'HERALD_ERR_VALIDATION', details: [expect.objectContaining({ field: 'events.1' })] }));
    for (const events of [[], ['*', 'notification.delivered'], 'notification.delivered', [3]]) {
      const res = await post({ url: 'http://127.0.0.1:9/x', events });
      expect(res.json().error.details, JSON.stringify(events)).toEqual([expect.objectContaining({ field: 'events' })]);
    }
    const unknown = await post({ url: 'http://127.0.0.1:9/x', events: ['*'], secret: 'whsec_mine' });
    expect(unknown.json().error.details).toEqual([expect.objectContaining({ field: 'secret' })]);
    expect(await listed()).toEqual([]);
  });

  it('delivers each endpoint the events it asked for, signed with its own secret, the event id as webhook-id', async () => {
    await setUp();
    const a = await receiver();
    const b = await receiver();
    await register(a.receiver, `${a.origin}/a`, ['notification.delivered', 'notification.failed']);
    await register(b.receiver, `${b.origin}/b`, ['*']);
    await h.startWorker(['gotify']);
    const ids = [
      await append('notification.accepted'),
      await append('notification.delivered'),
      await append('attempt.failed'),
      await append('notification.failed'),
    ];
    await until(
      async () => [a.receiver.ids().length, b.receiver.ids().length],
      ([x, y]) => x === 2 && y === 4,
    );
    expect(b.receiver.double.requests.every((req) => req.problems.length === 0)).toBe(true);
    expect(new Set(b.receiver.ids())).toEqual(new Set(ids));
    expect(new Set(a.receiver.ids())).toEqual(new Set([ids[1], ids[3]]));
    const delivered = a.receiver.events().find((e) => e.id === ids[1]);
    expect(delivered).toEqual({ id: ids[1], type: 'notification.delivered', at: expect.any(String), notificationId: 'n-1', to: 'u-1' });
    // Each endpoint's signature verifies only with its own secret.
    expect(a.receiver.secret).not.toBe(b.receiver.secret);
  });

  it('sends an endpoint the events from its registration on, not older ones', async () => {
    await setUp();
    await h.startWorker(['gotify']);
    const before = await append('notification.accepted', 'old');
    // The dispatcher has read it (with no endpoint to send it to) when it is acknowledged.
    const redis = await h.herald.connection();
    await until(
      async () => (await redis.xpending(`${h.prefix}:events`, 'webhooks')) as unknown[],
      (p) => p[0] === 0,
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    const { receiver: r, origin } = await receiver();
    await register(r, `${origin}/hook`, ['*']);
    const after = await append('notification.accepted', 'new');
    await until(
      async () => r.ids(),
      (ids) => ids.length === 1,
    );
    expect(r.ids()).toEqual([after]);
    expect(before).not.toBe(after);
  });

  it('retries a down endpoint (503, then a refused connection) until every event arrives', async () => {
    await setUp();
    const { receiver: r, origin } = await receiver();
    const id = await register(r, `${origin}/hook`, ['*']);
    r.double.answer({ status: 503 }, { status: 503 }, { reset: true }, { status: 502 }, { status: 429 }, { status: 404 });
    await h.startWorker(['gotify']);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await append('notification.delivered', `n-${i}`));
    await until(
      async () => new Set(r.ids()).size,
      (n) => n === 5,
    );
    // Six failed tries, then each event answered 2xx: the endpoint's health says it recovered.
    type Health = { failingTries: number; lastSuccessAt?: string; lastError?: string };
    const [endpoint] = await until(listed, (items) => (items[0]?.health as Health | undefined)?.failingTries === 0);
    expect(endpoint).toEqual(
      expect.objectContaining({ id, health: expect.objectContaining({ lastSuccessAt: expect.any(String), lastError: expect.stringMatching(/^HERALD_/) }) }),
    );
    expect(r.double.requests.length).toBeGreaterThan(5);
    expect(new Set(r.ids())).toEqual(new Set(ids));
  });

  it('a hanging endpoint holds only its own slots: another endpoint and notification delivery go on', async () => {
    await setUp({ HERALD_PROVIDER_TIMEOUT_MS: '60000', HERALD_EVENT_WEBHOOK_CONCURRENCY: '4', HERALD_EVENT_WEBHOOK_ENDPOINT_CONCURRENCY: '2' });
    const hanging = await receiver();
    hanging.receiver.double.fallback = { hang: true };
    const healthy = await receiver();
    await register(hanging.receiver, `${hanging.origin}/slow`, ['*']);
    await register(healthy.receiver, `${healthy.origin}/fast`, ['*']);
    await h.register('u-1');
    await h.startWorker(['gotify']);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await append('notification.accepted', `n-${i}`));
    const notified = await Promise.all([1, 2, 3].map((n) => h.herald.notify({ to: 'u-1', message: `m-${n}` })));
    // Every event reached the healthy endpoint and every notification was delivered while the
    // hanging endpoint's requests (60 s deadline) were all still open: none of them waited for it.
    await until(
      async () => healthy.receiver.ids().length,
      (n) => n >= 20,
    );
    for (const { id } of notified) await h.waitForStatus(id, 'delivered');
    // (The notifications' own events reach it too; these are the ones appended here.)
    const got = new Set(healthy.receiver.ids());
    expect(ids.filter((id) => !got.has(id))).toEqual([]);
    expect(hanging.receiver.double.requests.length).toBe(2);
  });

  it('deleting an endpoint stops its pending deliveries', async () => {
    await setUp();
    const { receiver: r, origin } = await receiver();
    r.double.fallback = { status: 503 };
    const id = await register(r, `${origin}/hook`, ['*']);
    await h.startWorker(['gotify']);
    await append('notification.accepted');
    await r.double.waitForRequests(2);
    expect((await app.inject({ method: 'DELETE', url: `/v1/webhooks/${id}`, headers: admin })).statusCode).toBe(204);
    expect((await app.inject({ method: 'DELETE', url: `/v1/webhooks/${id}`, headers: admin })).statusCode).toBe(404);
    // The retry that comes up finds no endpoint and ends: the queue empties without another try.
    const redis = await h.herald.connection();
    const counts = async () => {
      const [waiting, delayed, active] = await Promise.all([
        redis.llen(`${h.prefix}:webhook-events:wait`),
        redis.zcard(`${h.prefix}:webhook-events:delayed`),
        redis.llen(`${h.prefix}:webhook-events:active`),
      ]);
      return waiting + delayed + active;
    };
    await until(counts, (n) => n === 0);
    const tries = r.double.requests.length;
    await append('notification.delivered');
    // A new event is not sent either: the dispatcher has no endpoint for it.
    await until(
      async () => (await redis.xpending(`${h.prefix}:events`, 'webhooks')) as unknown[],
      (p) => p[0] === 0,
    );
    expect(await counts()).toBe(0);
    expect(r.double.requests.length).toBe(tries);
    expect(await listed()).toEqual([]);
  });

  it('deletes an endpoint that answers 410 Gone', async () => {
    await setUp();
    const { receiver: r, origin } = await receiver();
    r.double.answer({ status: 410 });
    await register(r, `${origin}/hook`, ['*']);
    await h.startWorker(['gotify']);
    await append('notification.accepted');
    await until(listed, (items) => items.length === 0);
    expect(r.double.requests).toHaveLength(1);
  });

  it('an event a killed dispatcher read and never acknowledged is claimed and delivered by another', async () => {
    await setUp();
    const { receiver: r, origin } = await receiver();
    await register(r, `${origin}/hook`, ['*']);
    const redis = await h.herald.connection();
    const stream = `${h.prefix}:events`;
    await redis.xgroup('CREATE', stream, 'webhooks', '0', 'MKSTREAM');
    const id = await append('notification.delivered');
    // A dispatcher reads the entry, then dies before it enqueues and acknowledges it.
    const read = (await redis.xreadgroup('GROUP', 'webhooks', 'dead-worker', 'COUNT', 10, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    expect(read[0]![1].map(([entryId]) => entryId)).toEqual([id]);
    await h.startWorker(['gotify']);
    // Idle for HERALD_JOB_LOCK_MS (1 s here), the entry is claimed, enqueued and sent.
    await until(
      async () => r.ids(),
      (ids) => ids.length === 1,
    );
    expect(r.ids()).toEqual([id]);
    await until(
      async () => (await redis.xpending(stream, 'webhooks')) as unknown[],
      (p) => p[0] === 0,
    );
  });

  it("the docs' ten-line Node example verifies a real delivery, and refuses a tampered one", async () => {
    const docs = readFileSync('docs/api.md', 'utf8');
    const code = /<!-- verify-example:start -->\n```js\n([\s\S]*?)```\n<!-- verify-example:end -->/.exec(docs)?.[1];
    expect(code?.split('\n').filter((line) => line.trim() !== '').length).toBeLessThanOrEqual(13);
    const file = join(mkdtempSync(join(tmpdir(), 'herald-verify-')), 'verify.mjs');
    writeFileSync(file, code!);
    const { verifyHerald } = (await import(pathToFileURL(file).href)) as { verifyHerald: (secret: string, headers: object, body: Buffer) => boolean };

    await setUp();
    const { receiver: r, origin } = await receiver();
    await register(r, `${origin}/hook`, ['*']);
    await h.startWorker(['gotify']);
    await append('notification.delivered');
    await r.double.waitForRequests(1);
    const [request] = r.double.requests;
    expect(verifyHerald(r.secret, request!.headers, request!.body)).toBe(true);
    expect(verifyHerald(r.secret, request!.headers, Buffer.concat([request!.body, Buffer.from(' ')]))).toBe(false);
    expect(verifyHerald(`whsec_${Buffer.alloc(32, 1).toString('base64')}`, request!.headers, request!.body)).toBe(false);
  });

  it('a worker with HERALD_EVENT_WEBHOOK_CONCURRENCY=0 delivers notifications and leaves the event webhooks to others', async () => {
    await setUp({ HERALD_EVENT_WEBHOOK_CONCURRENCY: '0' });
    const { receiver: r, origin } = await receiver();
    await register(r, `${origin}/hook`, ['*']);
    await append('notification.accepted');
    await h.register('u-1');
    await h.startWorker(['gotify']);
    const { id } = await h.herald.notify({ to: 'u-1', message: 'hi' });
    await h.waitForStatus(id, 'delivered');
    // No dispatcher joined the event log's group: nothing read the event, nothing was sent.
    const redis = await h.herald.connection();
    expect(await redis.xinfo('GROUPS', `${h.prefix}:events`)).toEqual([]);
    expect(r.double.requests).toEqual([]);
  });

  it('end to end: a notification sent and delivered reaches the endpoint as notification.accepted then notification.delivered, signed', async () => {
    await setUp();
    const { receiver: r, origin } = await receiver();
    await register(r, `${origin}/hook`, ['notification.accepted', 'notification.delivered']);
    await h.register('u-1');
    await h.startWorker(['gotify']);
    const res = await app.inject({
      method: 'POST',
      url: '/v1/notifications',
      headers: { authorization: `Bearer ${PUBLISH_KEY}` },
      payload: { to: 'u-1', message: 'hi' },
    });
    expect(res.statusCode).toBe(202);
    const { id } = res.json<{ id: string }>();
    await h.waitForStatus(id, 'delivered');
    await until(
      async () => r.events().filter((e) => e.notificationId === id).length,
      (n) => n >= 2,
    );
    // Every request verified by the test's own Standard Webhooks check (EventReceiver).
    expect(r.double.requests.every((req) => req.problems.length === 0)).toBe(true);
    const events = r.events().filter((e) => e.notificationId === id);
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(['notification.accepted', 'notification.delivered']));
    expect(events.find((e) => e.type === 'notification.delivered')).toEqual(expect.objectContaining({ to: 'u-1', channel: 'gotify' }));
    // The ids are the event log's: accepted was written before delivered.
    const idOf = (type: string) => String(events.find((e) => e.type === type)!.id);
    const [acceptedMs, deliveredMs] = [idOf('notification.accepted'), idOf('notification.delivered')].map((x) => x.split('-').map(Number));
    expect(acceptedMs![0]! < deliveredMs![0]! || (acceptedMs![0] === deliveredMs![0] && acceptedMs![1]! < deliveredMs![1]!)).toBe(true);
  });
  it('with no endpoint registered, skips the log unread; an endpoint registered afterwards receives every event written after it, none before', async () => {
    await setUp();
    await h.startWorker(['gotify']);
    const redis = await h.herald.connection();
    const group = async () => {
      const groups = (await redis.xinfo('GROUPS', `${h.prefix}:events`)) as unknown[][];
      const fields = groups.map((g) => Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [String(g[2 * i]), g[2 * i + 1]])));
      return fields.find((g) => g.name === 'webhooks');
    };
    const before: string[] = [];
    for (let i = 0; i < 5; i++) before.push(await append('notification.accepted', `n-before-${i}`));
    // The group moves past them without a read: Redis counts no entry read by it.
    const skipped = await until(group, (g) => g?.['last-delivered-id'] === before.at(-1));
    expect(skipped?.['entries-read']).toBeNull();
    expect(skipped?.pending).toBe(0);

    const { receiver: r, origin } = await receiver();
    await register(r, `${origin}/hook`, ['*']);
    const after = [await append('notification.accepted', 'n-after-0'), await append('notification.delivered', 'n-after-1')];
    await until(
      async () => r.ids(),
      (ids) => ids.length >= 2,
    );
    expect(r.ids().sort()).toEqual([...after].sort());
  });
});
