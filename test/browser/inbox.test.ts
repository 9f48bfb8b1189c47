/**
 * The inbox from a browser, as docs/api.md's flow has it: headless Chromium on an app's page, on
 * another origin than Herald, gets an inbox token from the app's own backend (a tiny server here,
 * which calls Herald with its publish key), lists the user's inbox, receives a new item live on
 * the stream (EventSource, the token in the query) as a worker's inbox channel stores it, and marks
 * it read with fetch (a CORS preflight, for the Authorization header). A second token, minted for
 * another user, reads nothing of the first user's, and no other route of Herald.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { Harness, PUBLISH_KEY } from '../helpers/harness.js';

/** Generous: a shared machine slows Chromium by many times; a wait that runs out is a failure, never a measurement. */
const BROWSER_DEADLINE_MS = 30_000;
const TEST_TIMEOUT_MS = 3 * BROWSER_DEADLINE_MS;

/** What the app page offers the test (window.app); the page runs it, these are its types. */
interface AppPage {
  app: {
    events: { type: string; data: unknown }[];
    open: boolean;
    token(user: string): Promise<string>;
    list(token: string): Promise<{ status: number; body: { items: { id: string; readAt: string | null }[]; unread: number } }>;
    listen(token: string): void;
    read(token: string, id: string): Promise<number>;
    /** The answer's status, or 0 when the browser refused to send the request. */
    call(token: string, method: string, path: string): Promise<number>;
  };
}

/**
 * The app page: its own backend mints tokens (`/api/inbox-token`); everything else goes to Herald
 * directly from the browser, as an app would do it.
 */
function appPage(herald: string): string {
  return `<!doctype html><title>app</title><script type="module">
const herald = ${JSON.stringify(herald)};
const auth = (token) => ({ authorization: 'Bearer ' + token });
window.app = {
  events: [],
  open: false,
  async token(user) {
    const res = await fetch('/api/inbox-token?user=' + encodeURIComponent(user), { method: 'POST' });
    return (await res.json()).token;
  },
  async list(token) {
    const res = await fetch(herald + '/v1/inbox', { headers: auth(token) });
    return { status: res.status, body: await res.json() };
  },
  listen(token) {
    const source = new EventSource(herald + '/v1/inbox/stream?token=' + encodeURIComponent(token));
    source.onopen = () => { window.app.open = true; };
    for (const type of ['inbox', 'read']) {
      source.addEventListener(type, (e) => window.app.events.push({ type, data: JSON.parse(e.data) }));
    }
  },
  async read(token, id) {
    return (await fetch(herald + '/v1/inbox/' + encodeURIComponent(id) + '/read', { method: 'POST', headers: auth(token) })).status;
  },
  async call(token, method, path) {
    try {
      return (await fetch(herald + path, { method, headers: auth(token) })).status;
    } catch {
      return 0; // the browser refused to send it: no CORS for this route
    }
  },
};
</script>`;
}

let h: Harness;
let herald: FastifyInstance;
let backend: Server;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  h = await Harness.create({ noGotify: true });
  await h.register('u-1', 'u-2');
  await h.startWorker(['inbox']);
  herald = await h.app();
  await herald.listen({ host: '127.0.0.1', port: 0 });
  const heraldOrigin = `http://localhost:${(herald.server.address() as AddressInfo).port}`;
  // The app's backend: its page, and the token route a signed-in user's page calls.
  backend = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    if (req.method === 'POST' && url.pathname === '/api/inbox-token') {
      const user = url.searchParams.get('user') ?? '';
      const minted = await fetch(`${heraldOrigin}/v1/recipients/${encodeURIComponent(user)}/inbox-token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PUBLISH_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ttlSeconds: 600 }),
      });
      res.writeHead(minted.status, { 'content-type': 'application/json' }).end(await minted.text());
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(appPage(heraldOrigin));
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  browser = await launchBrowser();
  page = await browser.context.newPage();
  // Another origin than Herald's: 127.0.0.1 and another port, where Herald is localhost.
  await page.goto(`http://127.0.0.1:${(backend.address() as AddressInfo).port}/`);
  await page.waitForFunction(() => 'app' in globalThis);
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => backend?.close(resolve));
  await h?.close();
});

const app = () => page.evaluateHandle(() => (globalThis as unknown as AppPage).app);

describe('the inbox in a browser, from an app page on another origin', { timeout: TEST_TIMEOUT_MS }, () => {
  it('lists, receives a new item live, marks it read; a token for another user reads none of it', async () => {
    const before = await h.herald.notify({ to: 'u-1', channels: ['inbox'], title: 'Earlier', message: 'Before the page opened' });
    await h.waitForStatus(before.id, 'delivered');
    const token = await page.evaluate((a) => a.token('u-1'), await app());
    expect(token).toMatch(/^hin_/);

    const listed = await page.evaluate(([a, t]) => a.list(t), [await app(), token] as const);
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ unread: 1, items: [{ id: before.id, readAt: null }] });

    await page.evaluate(([a, t]) => a.listen(t), [await app(), token] as const);
    await page.waitForFunction(() => (globalThis as unknown as AppPage).app.open, undefined, { timeout: BROWSER_DEADLINE_MS });
    const live = await h.herald.notify({ to: 'u-1', channels: ['inbox'], title: 'Live', message: 'While you look', url: 'https://app.example.org/r/1' });
    await page.waitForFunction(() => (globalThis as unknown as AppPage).app.events.length >= 1, undefined, { timeout: BROWSER_DEADLINE_MS });
    expect(await page.evaluate((a) => a.events, await app())).toEqual([
      {
        type: 'inbox',
        data: {
          id: live.id,
          notificationId: live.id,
          title: 'Live',
          message: 'While you look',
          url: 'https://app.example.org/r/1',
          createdAt: expect.any(String),
          readAt: null,
        },
      },
    ]);

    expect(await page.evaluate(([a, t, id]) => a.read(t, id), [await app(), token, live.id] as const)).toBe(204);
    await page.waitForFunction(() => (globalThis as unknown as AppPage).app.events.length >= 2, undefined, { timeout: BROWSER_DEADLINE_MS });
    expect((await page.evaluate((a) => a.events, await app()))[1]).toEqual({ type: 'read', data: { ids: [live.id], readAt: expect.any(String) } });
    expect((await h.herald.inbox.list('u-1', { unread: true })).items.map((i) => i.id)).toEqual([before.id]);

    // Another user's token, from the same page: nothing of u-1's, and nothing beyond its own inbox.
    const other = await page.evaluate((a) => a.token('u-2'), await app());
    const theirs = await page.evaluate(([a, t]) => a.list(t), [await app(), other] as const);
    expect(theirs.body).toEqual({ items: [], unread: 0, next: null });
    expect(await page.evaluate(([a, t, id]) => a.read(t, id), [await app(), other, before.id] as const)).toBe(404);
    expect((await h.herald.inbox.list('u-1')).unread).toBe(1);
    const elsewhere = await page.evaluate(
      async ([a, t]) => [
        await a.call(t, 'GET', '/v1/recipients/u-1'),
        await a.call(t, 'POST', '/v1/recipients/u-2/inbox-token'),
        await a.call(t, 'GET', '/v1/stats'),
      ],
      [await app(), other] as const,
    );
    // Herald's other routes allow no other origin: the browser does not even send the request
    // (its preflight gets no CORS answer). The same token from a server is refused with 401 (inbox-http.test.ts).
    expect(elsewhere).toEqual([0, 0, 0]);
  });
});
