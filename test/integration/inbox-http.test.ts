/**
 * The inbox over HTTP: the backend mints a token with a publish key; the token reads and marks
 * its own user's inbox and reaches nothing else (another user's items, publish and admin routes),
 * and API keys do not read inboxes. The live stream sends new items and read marks as SSE, and
 * drops a client that stops reading rather than buffer for it without bound.
 */
import { connect } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ADMIN_KEY, Harness, PUBLISH_KEY } from '../helpers/harness.js';
import { InboxStore } from '../../src/store/inbox.js';
import { InboxTokens } from '../../src/store/inbox-tokens.js';
import type { InboxItem } from '../../src/types.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

async function setUp(): Promise<{ app: FastifyInstance; store: InboxStore }> {
  h = await Harness.create({ noGotify: true });
  const app = await h.app();
  const store = new InboxStore(await h.herald.connection(), h.herald.keys, { maxItems: 50, retentionSeconds: 600 }, h!.herald.eventLog);
  return { app, store };
}

function item(id: string, createdAt = Date.now()): InboxItem {
  return { id, notificationId: id, message: `message ${id}`, createdAt: new Date(createdAt).toISOString(), readAt: null };
}

async function mint(app: FastifyInstance, userId: string, body: unknown = {}): Promise<string> {
  const res = await app.inject({ method: 'POST', url: `/v1/recipients/${userId}/inbox-token`, headers: bearer(PUBLISH_KEY), payload: body as object });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ token: string }>().token;
}

describe('inbox tokens', () => {
  it('are minted with a publish key, short-lived by default, within bounds on ask', async () => {
    const { app } = await setUp();
    const before = Date.now();
    const res = await app.inject({ method: 'POST', url: '/v1/recipients/u-1/inbox-token', headers: bearer(PUBLISH_KEY) });
    expect(res.statusCode).toBe(201);
    const { token, expiresAt } = res.json<{ token: string; expiresAt: string }>();
    expect(token).toMatch(/^hin_[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(expiresAt) - before).toBeGreaterThanOrEqual(3600_000 - 1000);
    expect(Date.parse(expiresAt) - before).toBeLessThanOrEqual(3600_000 + 1000);

    const short = await app.inject({ method: 'POST', url: '/v1/recipients/u-1/inbox-token', headers: bearer(PUBLISH_KEY), payload: { ttlSeconds: 120 } });
    expect(Date.parse(short.json<{ expiresAt: string }>().expiresAt) - before).toBeLessThanOrEqual(121_000);
    for (const ttlSeconds of [30, 86_401, 'soon']) {
      const bad = await app.inject({ method: 'POST', url: '/v1/recipients/u-1/inbox-token', headers: bearer(PUBLISH_KEY), payload: { ttlSeconds } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.details[0].field).toBe('ttlSeconds');
    }
    expect((await app.inject({ method: 'POST', url: '/v1/recipients/u-1/inbox-token' })).statusCode).toBe(401);
    // Only the digest is kept: Redis holds no usable token.
    const redis = await h!.herald.connection();
    const stored = await redis.keys(`${h!.prefix}:inbox-token:*`);
    expect(stored).toHaveLength(2);
    for (const key of stored) {
      expect(key).not.toContain(token.slice(4));
      expect(await redis.ttl(key)).toBeGreaterThan(0);
    }
  });

  it('stop working at their expiry', async () => {
    const { app } = await setUp();
    const tokens = new InboxTokens(await h!.herald.connection(), h!.herald.keys);
    const { token } = await tokens.mint('u-1', 60);
    expect(await tokens.resolve(token)).toMatchObject({ userId: 'u-1' });
    expect(await tokens.resolve(token, Date.now() + 61_000)).toBeNull();
    expect(await tokens.resolve(`${token}x`)).toBeNull();
    expect((await app.inject({ method: 'GET', url: '/v1/inbox', headers: bearer(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`) })).statusCode).toBe(
      401,
    );
  });
});

describe('the inbox routes', () => {
  it("list, mark read and mark all read the token's own inbox", async () => {
    const { app, store } = await setUp();
    for (const [i, id] of ['a', 'b', 'c'].entries()) await store.add('u-1', item(id, 1000 + i));
    const token = await mint(app, 'u-1');
    const list = await app.inject({ method: 'GET', url: '/v1/inbox?limit=2', headers: bearer(token) });
    expect(list.statusCode).toBe(200);
    const page = list.json<{ items: InboxItem[]; unread: number; next: string }>();
    expect(page.items.map((i) => i.id)).toEqual(['c', 'b']);
    expect(page.unread).toBe(3);
    const rest = await app.inject({ method: 'GET', url: `/v1/inbox?limit=2&cursor=${encodeURIComponent(page.next)}`, headers: bearer(token) });
    expect(rest.json<{ items: InboxItem[]; next: null }>()).toMatchObject({ items: [{ id: 'a' }], next: null });

    expect((await app.inject({ method: 'POST', url: '/v1/inbox/b/read', headers: bearer(token) })).statusCode).toBe(204);
    const unread = await app.inject({ method: 'GET', url: '/v1/inbox?unread=1', headers: bearer(token) });
    expect(unread.json<{ items: InboxItem[]; unread: number }>()).toMatchObject({ unread: 2, items: [{ id: 'c' }, { id: 'a' }] });
    expect((await app.inject({ method: 'POST', url: '/v1/inbox/read-all', headers: bearer(token) })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/v1/inbox', headers: bearer(token) })).json().unread).toBe(0);

    for (const url of ['/v1/inbox?unread=yes', '/v1/inbox?limit=0', '/v1/inbox?limit=101', '/v1/inbox?cursor=nonsense']) {
      const bad = await app.inject({ method: 'GET', url, headers: bearer(token) });
      expect(bad.statusCode, url).toBe(400);
      expect(bad.json().error.code).toBe('HERALD_ERR_VALIDATION');
    }
  });

  it("reach nothing else: not another user's items, not publish or admin routes; API keys do not read inboxes", async () => {
    const { app, store } = await setUp();
    await store.add('u-1', item('mine'));
    const other = await mint(app, 'u-2');
    const theirs = await app.inject({ method: 'GET', url: '/v1/inbox', headers: bearer(other) });
    expect(theirs.json()).toEqual({ items: [], unread: 0, next: null });
    const steal = await app.inject({ method: 'POST', url: '/v1/inbox/mine/read', headers: bearer(other) });
    expect(steal.statusCode).toBe(404);
    expect((await h!.herald.inbox.list('u-1')).unread).toBe(1);

    const token = await mint(app, 'u-1');
    const elsewhere = [
      { method: 'POST' as const, url: '/v1/notifications', payload: { to: 'u-1', message: 'spoof' } },
      { method: 'GET' as const, url: '/v1/recipients/u-1' },
      { method: 'POST' as const, url: '/v1/recipients/u-1/inbox-token' },
      { method: 'GET' as const, url: '/v1/stats' },
      { method: 'GET' as const, url: '/v1/dead-letters' },
    ];
    for (const request of elsewhere) {
      const res = await app.inject({ ...request, headers: bearer(token) });
      expect(res.statusCode, request.url).toBe(401);
    }
    for (const key of [PUBLISH_KEY, ADMIN_KEY]) {
      const res = await app.inject({ method: 'GET', url: '/v1/inbox', headers: bearer(key) });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.message).toMatch(/inbox token/);
    }
    // ?token= is for the stream alone (EventSource sends no headers).
    expect((await app.inject({ method: 'GET', url: `/v1/inbox?token=${token}` })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: `/v1/inbox/read-all?token=${token}` })).statusCode).toBe(401);
  });

  it("answer another origin's page: a preflight, and CORS headers on answers and refusals alike", async () => {
    const { app } = await setUp();
    const origin = { origin: 'https://app.example.org' };
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/v1/inbox/n-1/read',
      headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    expect(preflight.headers['access-control-allow-headers']).toContain('authorization');
    expect(preflight.headers['access-control-allow-methods']).toContain('POST');
    expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();
    const refused = await app.inject({ method: 'GET', url: '/v1/inbox', headers: origin });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe('*');
    // The other routes stay same-origin.
    const publish = await app.inject({ method: 'GET', url: '/v1/recipients/u-1', headers: { ...origin, ...bearer(PUBLISH_KEY) } });
    expect(publish.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('stream new items and read marks as Server-Sent Events, with the token in the query', async () => {
    const { app, store } = await setUp();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const token = await mint(app, 'u-1');
    const refused = await fetch(`http://127.0.0.1:${port}/v1/inbox/stream?token=hin_nope`);
    expect(refused.status).toBe(401);
    await refused.body?.cancel();

    const controller = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/v1/inbox/stream?token=${token}`, { signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended before ${pattern}: ${text}`);
        text += value;
      }
    };
    await readUntil(/: inbox stream\n\n/);
    await store.add('u-1', item('live'));
    await store.add('u-2', item('not-mine'));
    await h!.herald.inbox.read('u-1', 'live');
    await readUntil(/event: read\n/);
    const events = text
      .split('\n\n')
      .filter((block) => block.startsWith('event:'))
      .map((block) => ({ event: /^event: (\w+)/.exec(block)![1], data: JSON.parse(/\ndata: (.*)$/.exec(block)![1]!) }));
    expect(events).toEqual([
      { event: 'inbox', data: item('live', Date.parse(events[0]!.data.createdAt)) },
      { event: 'read', data: { ids: ['live'], readAt: expect.any(String) } },
    ]);
    controller.abort();
  });
});

describe('the inbox stream under a slow client', () => {
  it('drops a client that stops reading once more than its bound waits unsent, with a last event saying so', async () => {
    const { app, store } = await setUp();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const token = await mint(app, 'u-1');
    const redis = await h!.herald.connection();
    const channel = h!.herald.keys.inboxChannel('u-1');
    const watching = async () => ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1];
    // A client that sends its request, then reads nothing: the kernel's buffers fill, then the API's.
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`GET /v1/inbox/stream?token=${token} HTTP/1.1\r\nhost: herald\r\nconnection: close\r\n\r\n`);
    const received: Buffer[] = [(await once(socket, 'data'))[0] as Buffer];
    socket.pause();
    expect(await watching()).toBe(1);
    const big = 'x'.repeat(3900);
    let sent = 0;
    // Items until the stream gives up on the client (it unsubscribes): an unbounded one would take them all.
    while ((await watching()) > 0 && sent < 20_000) {
      for (let i = 0; i < 100; i++, sent++) await store.add('u-1', { ...item(`n-${sent}`), message: big });
    }
    expect(await watching()).toBe(0);
    expect(sent).toBeLessThan(20_000);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.resume();
    await once(socket, 'close');
    // The last event the client reads is the one that says why the stream ended.
    const events = [
      ...Buffer.concat(received)
        .toString('utf8')
        .matchAll(/^event: (\w+)$/gm),
    ].map((m) => m[1]);
    expect(events.at(-1)).toBe('dropped');
    expect(events.slice(0, -1).every((e) => e === 'inbox')).toBe(true);
  });
});
