/**
 * The operator console in headless Chromium, against a real Herald: the app served on localhost
 * with a Gotify double and a Web Push service double behind in-process workers, on the test Redis.
 *
 * Every request the browser makes is recorded, so is every CSP violation (a listener installed
 * before the console's own scripts run) and every page error; the last tests check that the admin
 * key never went into a URL, into localStorage or into Herald's logs, and that the policy held
 * while everything above ran (proved live by an inline script the policy must refuse).
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { ADMIN_KEY, Harness, PUBLISH_KEY, until } from '../helpers/harness.js';
import { PushService, vapidEnv } from '../helpers/push-service.js';

/** Generous, for a shared machine that slows Chromium many times; running out is a failure, not a measure. */
const BROWSER_DEADLINE_MS = 30_000;
const TEST_TIMEOUT_MS = 3 * BROWSER_DEADLINE_MS;

/** Where `npm run docs:screenshots` wants the screenshots; unset in the test suite. */
const SCREENSHOTS = process.env.HERALD_CONSOLE_SCREENSHOTS;

interface Recorded {
  violations: string[];
}

/** The page's globals the tests read (the tests' own types have no DOM); the page runs the code. */
interface PageGlobals {
  recorded: Recorded;
  ran?: boolean;
  sessionStorage: { length: number; key(index: number): string | null; getItem(key: string): string | null };
  localStorage: { length: number };
  document: {
    documentElement: { scrollWidth: number };
    body: { append(node: unknown): void };
    createElement(tag: 'script'): { textContent: string };
    addEventListener(type: 'securitypolicyviolation', listener: (event: { violatedDirective: string; blockedURI: string }) => void): void;
  };
}

let h: Harness;
let app: FastifyInstance;
let push: PushService;
let origin: string;
let browser: Browser;
let page: Page;
const requests: { url: string; authorization: string | undefined; lastEventId: string | undefined }[] = [];
const pageErrors: string[] = [];
const cspMessages: string[] = [];

beforeAll(async () => {
  const vapid = vapidEnv();
  h = await Harness.create({ env: vapid });
  push = await new PushService(vapid.VAPID_PUBLIC_KEY!).start();
  h.onClose(() => push.close());
  // Providers take a little time, as real ones do, so latencies are not all zero.
  h.gotify.respond = (request) => {
    const message = String(JSON.parse(request.body.toString()).message);
    if (message.startsWith('doomed')) return { status: 401, body: '{"error":"unauthorized"}' };
    return { status: 200, body: '{"id":1}', delayMs: 3 + (message.length % 17) };
  };
  await h.register('u-1');
  await h.startWorker(['gotify', 'webpush']);
  app = await h.app();
  await app.listen({ host: '127.0.0.1', port: 0 });
  origin = `http://localhost:${(app.server.address() as AddressInfo).port}`;

  browser = await launchBrowser();
  browser.context.on('request', (request) => {
    const headers = request.headers();
    requests.push({ url: request.url(), authorization: headers.authorization, lastEventId: headers['last-event-id'] });
  });
  await browser.context.addInitScript(() => {
    const page = globalThis as unknown as PageGlobals;
    const recorded: Recorded = { violations: [] };
    page.recorded = recorded;
    page.document.addEventListener('securitypolicyviolation', (event) => recorded.violations.push(`${event.violatedDirective} ${event.blockedURI}`));
  });
  page = await browser.context.newPage();
  page.setDefaultTimeout(BROWSER_DEADLINE_MS);
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/.test(message.text())) cspMessages.push(message.text());
  });
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

function api(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) {
  return app.inject({ method, url, headers: { authorization: `Bearer ${ADMIN_KEY}` }, ...(payload ? { payload } : {}) });
}

async function signIn(secret: string): Promise<void> {
  await page.fill('#admin-key', secret);
  await page.click('form.signin button[type=submit]');
}

async function figure(name: string): Promise<string> {
  return (await page.textContent(`[data-figure="${name}"]`)) ?? '';
}

describe('signing in', { timeout: TEST_TIMEOUT_MS }, () => {
  it('GET / leads to the sign-in form; a wrong key and a publish key are refused, each saying why', async () => {
    await page.goto(`${origin}/`);
    expect(new URL(page.url()).pathname).toBe('/console/');
    await signIn('not-a-key-of-this-herald');
    await page.waitForSelector('text=not one of this Herald’s keys');
    await signIn(PUBLISH_KEY);
    await page.waitForSelector('text=no admin scope');
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.length)).toBe(0);
    expect(await page.isHidden('#nav')).toBe(true);
  });

  it('with the admin key, shows the overview and keeps the key in sessionStorage only', async () => {
    await signIn(ADMIN_KEY);
    await page.waitForSelector('[data-figure="accepted"]');
    expect(new URL(page.url()).hash).toBe('#/overview');
    expect(
      await page.evaluate(() => {
        const storage = (globalThis as unknown as PageGlobals).sessionStorage;
        return Array.from({ length: storage.length }, (_, i) => storage.getItem(storage.key(i) ?? ''));
      }),
    ).toEqual([ADMIN_KEY]);
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).localStorage.length)).toBe(0);
  });
});

describe('overview', { timeout: TEST_TIMEOUT_MS }, () => {
  it("shows the deployment's figures: notifications, each channel's success rate and latency, queues and workers", async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await h.herald.notify({ to: 'u-1', message: `hello ${i}`, channels: ['gotify'] })).id);
    for (const id of ids) await h.waitForStatus(id, 'delivered');
    await page.reload();
    await until(
      () => figure('delivered'),
      (text) => text === '3',
      BROWSER_DEADLINE_MS,
    );
    expect(await page.textContent('[data-channel="gotify"] [data-figure="gotify.successRate"]')).toBe('100 %');
    const gotifyRow = (await page.textContent('[data-channel="gotify"]')) ?? '';
    expect(gotifyRow).toMatch(/\d+ ms/); // p50, p95, p99 from the latency histogram
    expect(await page.textContent('.workers')).toContain('gotify');
    expect(await page.locator('table >> text=deliver-gotify').count()).toBeGreaterThan(0);
  });
});

function eventStreamRequests() {
  return requests.filter((request) => new URL(request.url).pathname === '/v1/events');
}

async function chartTotal(series: 'accepted' | 'delivered' | 'failed'): Promise<number> {
  return Number(await page.getAttribute('svg.chart', `data-${series}`));
}

describe('live figures', { timeout: TEST_TIMEOUT_MS }, () => {
  it('change while notifications flow, from the event stream, with no page load', async () => {
    await page.goto(`${origin}/console/#/overview`);
    await page.waitForSelector('#live[data-state="live"]');
    const deliveredBefore = Number(await figure('delivered'));
    // The stream starts ten minutes back: once it has caught up, the chart holds every delivery so far.
    const chartBefore = await until(
      () => chartTotal('delivered'),
      (total) => total === deliveredBefore,
      BROWSER_DEADLINE_MS,
    );
    let loads = 0;
    page.on('load', () => loads++);
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await h.herald.notify({ to: 'u-1', message: `live ${i}`, channels: ['gotify'] })).id);
    for (const id of ids) await h.waitForStatus(id, 'delivered');
    await until(
      async () => [Number(await figure('delivered')), await chartTotal('delivered')],
      ([figures, chart]) => figures === deliveredBefore + 4 && chart === chartBefore + 4,
      BROWSER_DEADLINE_MS,
    );
    expect(loads).toBe(0);
    // The stream was opened with the key in a header and ten minutes back, so the chart starts full.
    const [first] = eventStreamRequests();
    expect(first?.authorization).toBe(`Bearer ${ADMIN_KEY}`);
    expect(first?.lastEventId).toMatch(/^\d+-0$/);
  });

  it('picks up after a dropped stream with Last-Event-ID, missing nothing and counting nothing twice', async () => {
    await page.waitForSelector('#live[data-state="live"]');
    const chartBefore = await chartTotal('delivered');
    const opened = eventStreamRequests().length;
    // Every connection drops (the stream's included); what is sent meanwhile waits in the event log.
    app.server.closeAllConnections();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await h.herald.notify({ to: 'u-1', message: `gap ${i}`, channels: ['gotify'] })).id);
    for (const id of ids) await h.waitForStatus(id, 'delivered');
    await until(
      () => chartTotal('delivered'),
      (total) => total >= chartBefore + 3,
      BROWSER_DEADLINE_MS,
    );
    await page.waitForSelector('#live[data-state="live"]');
    const reopened = eventStreamRequests().slice(opened);
    expect(reopened.length).toBeGreaterThan(0);
    expect(reopened[0]?.lastEventId).toMatch(/^\d+-\d+$/);
    // The id of the last event it had, not where it first started from.
    expect(reopened[0]?.lastEventId).not.toBe(eventStreamRequests()[0]?.lastEventId);
    expect(await chartTotal('delivered')).toBe(chartBefore + 3);
  });
});

describe('a notification, live', { timeout: TEST_TIMEOUT_MS }, () => {
  it('follows a change made elsewhere, from the event stream, with no page load', async () => {
    const { id } = await h.herald.notify({ to: 'u-1', message: 'watched', delayMs: 600_000 });
    await page.goto(`${origin}/console/#/notification/${encodeURIComponent(id)}`);
    await page.waitForSelector('#status >> text=scheduled');
    await page.waitForSelector('#live[data-state="live"]');
    let loads = 0;
    page.on('load', () => loads++);
    await h.herald.cancel(id);
    await page.waitForSelector('#status >> text=canceled');
    expect(loads).toBe(0);
  });
});

describe('a notification', { timeout: TEST_TIMEOUT_MS }, () => {
  it('looked up by id: its status and its attempts as a timeline', async () => {
    const { id } = await h.herald.notify({ to: 'u-1', title: 'Timeline', message: 'hello timeline', channels: ['webpush', 'gotify'] });
    await h.waitForStatus(id, 'delivered');
    await page.goto(`${origin}/console/#/notification`);
    await page.fill('#notification-id', id);
    await page.click('form.inline button[type=submit]');
    await page.waitForSelector(`[data-notification="${id}"] #status >> text=delivered`);
    const steps = await page.$$eval('.timeline .step', (items) =>
      items.map((item) => ({ outcome: item.getAttribute('data-outcome'), channel: item.querySelector('strong')?.textContent })),
    );
    // u-1 has no browser subscribed: Web Push is passed over (skipped), then Gotify delivers.
    expect(steps).toEqual([
      { outcome: 'skipped', channel: 'webpush' },
      { outcome: 'delivered', channel: 'gotify' },
    ]);
  });

  it('cancels a pending one with its cancel button', async () => {
    const { id } = await h.herald.notify({ to: 'u-1', message: 'later', delayMs: 600_000 });
    await page.goto(`${origin}/console/#/notification/${encodeURIComponent(id)}`);
    await page.waitForSelector('#status >> text=scheduled');
    await page.click('#cancel');
    await page.waitForSelector('#status >> text=canceled');
    expect((await h.herald.status(id))?.status).toBe('canceled');
    expect(await page.isVisible('#cancel')).toBe(false);
  });

  it('says so when there is no such notification', async () => {
    await page.goto(`${origin}/console/#/notification/no-such-id`);
    await page.waitForSelector('text=No notification no-such-id.');
  });
});

describe('dead letters', { timeout: TEST_TIMEOUT_MS }, () => {
  it('lists them, shows one with its attempts, replays one and deletes another', async () => {
    for (const id of ['doomed-1', 'doomed-2']) await h.herald.notify({ id, to: 'u-1', message: `doomed ${id}`, channels: ['gotify'] });
    await h.waitForStatus('doomed-1', 'failed');
    await h.waitForStatus('doomed-2', 'failed');
    await page.goto(`${origin}/console/#/dead-letters`);
    await page.waitForSelector('[data-dead-letter="doomed-2"]');
    expect(await page.$$eval('[data-dead-letter]', (items) => items.map((item) => item.getAttribute('data-dead-letter')))).toEqual(['doomed-2', 'doomed-1']);

    await page.click('[data-dead-letter="doomed-1"] >> text=Inspect');
    await page.waitForSelector('[data-dead-letter="doomed-1"] .timeline [data-outcome="permanent"]');
    expect(await page.textContent('[data-dead-letter="doomed-1"] .timeline')).toContain('HTTP 401');

    // Gotify takes it now: the replay goes through.
    h.gotify.respond = undefined;
    await page.click('[data-dead-letter="doomed-1"] [data-action="replay"]');
    await page.waitForSelector('[data-replayed="doomed-1"]');
    await h.waitForStatus('doomed-1', 'delivered');
    expect((await api('GET', '/v1/dead-letters/doomed-1')).statusCode).toBe(404);

    // Delete asks for a second click.
    await page.click('[data-dead-letter="doomed-2"] [data-action="delete"]');
    expect((await api('GET', '/v1/dead-letters/doomed-2')).statusCode).toBe(200);
    await page.click('[data-dead-letter="doomed-2"] [data-action="delete"]');
    await page.waitForSelector('text=Deleted doomed-2.');
    expect((await api('GET', '/v1/dead-letters/doomed-2')).statusCode).toBe(404);
  });
});

describe('a recipient', { timeout: TEST_TIMEOUT_MS }, () => {
  it('shows its masked addresses, its subscriptions without keys, its presence and its preferences', async () => {
    const browserOfBob = push.browser();
    await h.herald.recipients.set('bob', { email: 'bob@example.org', gotify: { token: 'AbCdEfGhIjKlMnOp' }, channels: ['webpush', 'gotify'] });
    await h.herald.recipients.addWebPush('bob', browserOfBob.subscription);
    await h.herald.recipients.setPreferences('bob', { muteCategories: ['marketing'], quietHours: { timezone: 'Europe/Paris', start: '22:00', end: '07:00' } });
    await h.herald.presence.online('bob', { ttlSeconds: 300, device: 'phone', context: 'room:42' });

    await page.goto(`${origin}/console/#/recipient/bob`);
    await page.waitForSelector('[data-recipient="bob"]');
    const text = (await page.textContent('[data-recipient="bob"]')) ?? '';
    expect(text).toContain('bob@example.org');
    expect(text).toContain('****MnOp');
    expect(text).not.toContain('AbCdEfGhIjKlMnOp');
    expect(text).toContain('webpush → gotify');
    expect(text).toContain(new URL(browserOfBob.subscription.endpoint).origin);
    for (const secret of Object.values(browserOfBob.subscription.keys)) expect(text).not.toContain(secret);
    expect(text).toContain('online');
    expect(text).toMatch(/phone in room:42/);
    expect(text).toContain('marketing');
    expect(text).toContain('22:00–07:00 (Europe/Paris)');
  });
});

describe('send a test', { timeout: TEST_TIMEOUT_MS }, () => {
  it('sends a notification to a recipient and links to it', async () => {
    await page.goto(`${origin}/console/#/send`);
    await page.fill('#send-to', 'u-1');
    await page.fill('#send-title', 'From the console');
    await page.selectOption('#send-channel', 'gotify');
    await page.click('form.form button[type=submit]');
    const id = (await (await page.waitForSelector('#sent-link')).textContent()) ?? '';
    const status = await h.waitForStatus(id, 'delivered');
    expect(status.channel).toBe('gotify');
    const sent = h.gotify.requests.map((request) => JSON.parse(request.body.toString()) as { title?: string });
    expect(sent.some((body) => body.title === 'From the console')).toBe(true);
  });
});

describe('send a test to this browser', { timeout: TEST_TIMEOUT_MS }, () => {
  it("subscribes the browser with Herald's kit for a user id, registers it through the API, and sends it a Web Push", async () => {
    await browser.context.grantPermissions(['notifications'], { origin });
    await page.goto(`${origin}/console/#/send`);
    await page.waitForSelector('#subscribe');
    // Chromium's push service (FCM) is out of reach offline: a push service double stands in at the
    // browser's boundary (PushManager), handing out a subscription on the Web Push double.
    const subscriber = push.browser();
    await page.evaluate((json) => {
      type Subscription = { endpoint: string; options: { applicationServerKey: ArrayBuffer }; toJSON(): unknown };
      const manager = (globalThis as unknown as { PushManager: { prototype: Record<string, unknown> } }).PushManager.prototype;
      let stored: Subscription | null = null;
      manager.getSubscription = async () => stored;
      manager.subscribe = async (options: { applicationServerKey: ArrayBuffer }) => {
        stored = { endpoint: json.endpoint, options: { applicationServerKey: options.applicationServerKey }, toJSON: () => json };
        return stored;
      };
    }, subscriber.subscription);
    await page.fill('#send-to', 'carol');
    await page.click('#subscribe');
    await page.waitForSelector('#browser-result >> text=subscribed as carol');
    const carol = await h.herald.recipients.get('carol');
    expect(carol?.webpush).toEqual([expect.objectContaining({ endpoint: expect.stringContaining(new URL(subscriber.subscription.endpoint).origin) })]);

    await page.click('#send-browser');
    const id = (await (await page.waitForSelector('#browser-result #sent-link')).textContent()) ?? '';
    expect((await h.waitForStatus(id, 'delivered')).channel).toBe('webpush');
    const [received] = push.for(subscriber);
    expect(received?.problems).toEqual([]);
    expect(received?.payload).toMatchObject({ id, title: 'Herald test' });
  });
});

describe('a key that stops working', { timeout: TEST_TIMEOUT_MS }, () => {
  it('sends the operator back to sign in, and forgets it', async () => {
    await page.goto(`${origin}/console/#/overview`);
    await page.waitForSelector('[data-figure="accepted"]');
    // As if the key had been taken out of HERALD_API_KEYS: the tab still holds it, Herald refuses it.
    await page.evaluate(() => {
      const storage = (globalThis as unknown as PageGlobals).sessionStorage as unknown as {
        setItem(key: string, value: string): void;
        key(index: number): string;
      };
      storage.setItem(storage.key(0), 'a-key-that-was-rotated-away');
    });
    await page.goto(`${origin}/console/#/dead-letters`);
    await page.waitForSelector('text=Herald refused the key: sign in again.');
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.length)).toBe(0);
    // Signed in again, it shows the page it was on.
    await signIn(ADMIN_KEY);
    await page.waitForSelector('h1 >> text=Dead letters');
  });
});

/**
 * For the screenshots only: a minute of traffic, paced, so the throughput chart has something to
 * show: bursts to Gotify and Web Push, providers answering in 5 to 300 ms, and a few refusals.
 */
async function screenshotScene(): Promise<void> {
  h.gotify.respond = (request) => {
    const message = String(JSON.parse(request.body.toString()).message);
    if (message.startsWith('refused')) return { status: 401, body: '{"error":"unauthorized"}' };
    return { status: 200, body: '{"id":1}', delayMs: 5 + ((message.length * 37) % 300) };
  };
  const end = Date.now() + 60_000;
  for (let round = 0; Date.now() < end; round++) {
    const size = 3 + ((round * 7) % 11);
    await h.herald.notifyMany(
      Array.from({ length: size }, (_, i) => ({
        to: i % 3 === 0 ? 'bob' : 'u-1',
        title: 'Build finished',
        message: `${round % 9 === 4 && i === 0 ? 'refused' : 'build'} ${round}.${i} ${'x'.repeat(i * 13)}`,
        channels: i % 3 === 0 ? ['webpush', 'gotify'] : ['gotify'],
      })),
    );
    await new Promise((resolve) => setTimeout(resolve, 2500));
  }
}

describe('on a phone and on a desktop', { timeout: TEST_TIMEOUT_MS }, () => {
  beforeAll(async () => {
    if (SCREENSHOTS) await screenshotScene();
  }, 2 * 60_000);

  const sizes = [
    ['phone', { width: 390, height: 844 }],
    ['desktop', { width: 1280, height: 800 }],
  ] as const;
  for (const [name, viewport] of sizes) {
    it(`fits a ${viewport.width} px wide screen without scrolling sideways`, async () => {
      await page.setViewportSize(viewport);
      await page.goto(`${origin}/console/#/overview`);
      await page.waitForSelector('[data-channel="gotify"]');
      // The figures as they stand now (the stream and statistics have caught up), before measuring.
      const accepted = String((await h.herald.stats(3600)).notifications.accepted);
      await until(
        () => figure('accepted'),
        (text) => text === accepted,
        BROWSER_DEADLINE_MS,
      );
      expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
      if (SCREENSHOTS) {
        mkdirSync(SCREENSHOTS, { recursive: true });
        await page.screenshot({ path: `${SCREENSHOTS}/console-${name}.png`, fullPage: name === 'phone' });
      }
    });
  }
});

describe('the key and the policy', { timeout: TEST_TIMEOUT_MS }, () => {
  it('sent the key only as a bearer header: never in a URL, never in localStorage, never in the logs', async () => {
    const toApi = requests.filter((request) => new URL(request.url).pathname.startsWith('/v1/'));
    expect(toApi.length).toBeGreaterThan(10);
    expect(requests.filter((request) => request.url.includes(ADMIN_KEY) || decodeURIComponent(request.url).includes(ADMIN_KEY))).toEqual([]);
    expect(toApi.filter((request) => request.authorization === `Bearer ${ADMIN_KEY}`).length).toBeGreaterThan(10);
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).localStorage.length)).toBe(0);
    expect(h.logs.raw.length).toBeGreaterThan(0);
    expect(h.logs.raw.filter((line) => line.includes(ADMIN_KEY))).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('held the Content-Security-Policy: nothing was refused, and an injected inline script is', async () => {
    const recorded = () => page.evaluate(() => (globalThis as unknown as PageGlobals).recorded.violations);
    expect(await recorded()).toEqual([]);
    expect(cspMessages).toEqual([]);
    // An injected inline script, as a title that became markup would be: the policy refuses it.
    await page.evaluate(() => {
      const { document } = globalThis as unknown as PageGlobals;
      const script = document.createElement('script');
      script.textContent = 'globalThis.ran = true';
      document.body.append(script);
    });
    const [violation] = await until(recorded, (list) => list.length === 1, BROWSER_DEADLINE_MS);
    expect(violation).toMatch(/^script-src/);
    expect(await page.evaluate(() => 'ran' in globalThis)).toBe(false);
  });
});
