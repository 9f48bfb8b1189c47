/**
 * The Web Push client kit in a real browser: headless Chromium on a page that Herald's own app
 * serves (http://localhost is a secure context), with /sdk/herald-push.js and /sdk/herald-sw.js as
 * Herald serves them.
 *
 * - Pushes go in through the DevTools protocol (ServiceWorker.deliverPushMessage), which hands the
 *   service worker the decrypted body a push service would: Herald's payload, made by Herald's own
 *   payload code from a notification.
 * - Notifications come out on a desktop notification service on a private D-Bus (see
 *   helpers/notification-daemon.ts), which is also where they are clicked: Chromium turns that
 *   click into a real, trusted notificationclick, so the worker's window opening is the browser's.
 * - Subscribing needs a push service. Chromium's (Google's FCM) is out of reach offline, where
 *   pushManager.subscribe waits for it for minutes; the page replaces PushManager at the browser's
 *   boundary (kit-page.js) and the kit runs unchanged around it. pushsubscriptionchange, which
 *   Chromium does not fire by itself, is dispatched in the worker with a subscription object; the
 *   listener and everything after it are the worker's own code.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { CDPSession, Page, Worker } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateVapidKeys } from '../../src/channels/webpush/vapid.js';
import { fitPayload } from '../../src/channels/webpush/payload.js';
import type { Notification } from '../../src/types.js';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { Harness, PUBLISH_KEY, until } from '../helpers/harness.js';
import { type DesktopNotification, NotificationDaemon } from '../helpers/notification-daemon.js';

/** What the page's `window.kit` offers (kit-page.js); the page runs it, these are its types. */
interface KitPage {
  kit: {
    pushServiceCalls: { userVisibleOnly: boolean; applicationServerKey: number[] }[];
    handedToFunction: unknown[];
    stubPushService(): void;
    subscribe(register: 'url' | 'function'): Promise<{ endpoint: string; keys: Record<string, string> }>;
    unsubscribe(): Promise<boolean>;
    scriptUrl(): Promise<string | undefined>;
    shown(): Promise<{ title: string; body: string; tag: string; icon: string; data: { herald: { id: string; url?: string }; data?: unknown } }[]>;
  };
}

/** The page's service worker container, as far as the tests read it. */
interface PageScope {
  navigator: {
    serviceWorker: {
      getRegistration(scope: string): Promise<{ active: { scriptURL: string; state: string } | null; installing: unknown; waiting: unknown } | undefined>;
    };
  };
}

/** The service worker's global, as far as the tests reach into it. */
interface WorkerScope {
  ExtendableEvent: new (type: string) => Event;
  dispatchEvent(event: Event): boolean;
  registration: { pushManager: { subscribe(options: { applicationServerKey: ArrayBuffer }): Promise<unknown> } };
  renewCalls?: number[][];
  clients: { openWindow(url: string): Promise<unknown> };
  WindowClient: { prototype: { focus(): Promise<unknown> } };
  windowCalls?: WindowCall[];
}

/** A window call of the worker's click handler, once it settled. */
interface WindowCall {
  name: string;
  url: string;
  ok: boolean;
}

interface Received {
  body: unknown;
  cookie: string | undefined;
}

/**
 * How long to wait for the browser: generous, because a shared machine under load slows Chromium
 * by many times; a wait that runs out is a failure, never a measurement.
 */
const BROWSER_DEADLINE_MS = 30_000;
const TEST_TIMEOUT_MS = 3 * BROWSER_DEADLINE_MS;

const VAPID = generateVapidKeys();
const KIT_PAGE = readFileSync(new URL('kit-page.js', import.meta.url), 'utf8');

let h: Harness;
let app: FastifyInstance;
let origin: string;
let daemon: NotificationDaemon;
let browser: Browser;
let page: Page;
let cdp: CDPSession;
const scopes = new Map<string, string>();
const received: Record<'register' | 'unregister', Received[]> = { register: [], unregister: [] };

beforeAll(async () => {
  daemon = await NotificationDaemon.start();
  h = await Harness.create({
    noGotify: true,
    env: { VAPID_PUBLIC_KEY: VAPID.publicKey, VAPID_PRIVATE_KEY: VAPID.privateKey, VAPID_SUBJECT: 'mailto:ops@example.org' },
  });
  app = await h.app();
  // The app's own side of the test: a page, its backend's register endpoints, pages to open.
  app.get('/kit-test/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .send('<!doctype html><meta charset="utf-8"><title>kit</title><script type="module" src="/kit-test/page.js"></script>'),
  );
  app.get('/kit-test/page.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(KIT_PAGE));
  for (const name of ['register', 'unregister'] as const) {
    app.post(`/kit-test/${name}`, async (request, reply) => {
      received[name].push({ body: request.body, cookie: request.headers.cookie });
      return reply.status(204).send();
    });
  }
  // An app's page on another origin (127.0.0.1 is not localhost to a browser), as the docs' snippet has it.
  app.get('/kit-test/elsewhere', async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(
      `<!doctype html><title>elsewhere</title><script type="module">
import { subscribe } from '${origin}/sdk/herald-push.js';
const { publicKey } = await (await fetch('${origin}/v1/webpush/public-key')).json();
globalThis.imported = { subscribe: typeof subscribe, publicKey };
</script>`,
    ),
  );
  app.get('/kit-test/opened/:n', async (request, reply) =>
    reply.type('text/html; charset=utf-8').send(`<!doctype html><title>opened ${(request.params as { n: string }).n}</title>`),
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  origin = `http://localhost:${(app.server.address() as AddressInfo).port}`;

  browser = await launchBrowser({ DBUS_SESSION_BUS_ADDRESS: daemon.address });
  await browser.context.grantPermissions(['notifications'], { origin });
  await browser.context.addCookies([{ name: 'session', value: 'u-42', url: origin }]);
  page = await browser.context.newPage();
  await page.goto(`${origin}/kit-test/`);
  await page.waitForFunction(() => 'kit' in globalThis);
  await page.evaluate(() => (globalThis as unknown as KitPage).kit.stubPushService());
  cdp = await browser.context.newCDPSession(page);
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
    for (const registration of registrations) if (!registration.isDeleted) scopes.set(registration.scopeURL, registration.registrationId);
  });
  await cdp.send('ServiceWorker.enable');
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  await browser?.close();
  await daemon?.close();
  await h?.close();
});

/** The kit's registration, subscribed (again: subscribe() is idempotent), and its id for the DevTools protocol. */
async function subscribedRegistration(): Promise<string> {
  await page.evaluate(() => (globalThis as unknown as KitPage).kit.subscribe('url'));
  return until(
    async () => scopes.get(`${origin}/sdk/`),
    (id) => id !== undefined,
    BROWSER_DEADLINE_MS,
  ) as Promise<string>;
}

/** Delivers Herald's Web Push payload for `notification` to the kit's service worker. */
async function push(notification: Notification): Promise<void> {
  const registrationId = await subscribedRegistration();
  const payload = fitPayload(notification);
  if (!payload) throw new Error('the test notification does not fit a push');
  await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: payload.json });
}

function notification(id: string, fields: Partial<Notification> = {}): Notification {
  return { id, message: `message of ${id}`, priority: 5, ttlSeconds: 600, ...fields };
}

/**
 * The notifications with `tag` that the page reads from its registration (getNotifications), read
 * once the desktop has the notification `onDesktop` accepts. Never poll the page before that:
 * Chromium answers getNotifications with the stored notifications that its desktop bridge counts
 * as displayed and deletes the others from its store, so a read that falls between the store's
 * write and the desktop call loses that notification for good, although the desktop then shows it.
 */
async function shownAfterDesktop(tag: string, onDesktop: (notification: DesktopNotification) => boolean) {
  await daemon.waitFor(onDesktop, BROWSER_DEADLINE_MS);
  return shownWithTag(tag);
}

async function shownWithTag(tag: string) {
  return (await page.evaluate(() => (globalThis as unknown as KitPage).kit.shown())).filter((shown) => shown.tag === tag);
}

function kitWorker(): Worker {
  const worker = browser.context.serviceWorkers().find((candidate) => new URL(candidate.url()).pathname === '/sdk/herald-sw.js');
  if (!worker) throw new Error('the kit service worker is not running');
  return worker;
}

describe('herald-push.js in the page', { timeout: TEST_TIMEOUT_MS }, () => {
  it("registers the service worker, subscribes with Herald's VAPID key and hands the subscription JSON to register", async () => {
    const json = await page.evaluate(() => (globalThis as unknown as KitPage).kit.subscribe('url'));
    const calls = await page.evaluate(() => (globalThis as unknown as KitPage).kit.pushServiceCalls);
    expect(calls).toEqual([{ userVisibleOnly: true, applicationServerKey: [...Buffer.from(VAPID.publicKey, 'base64url')] }]);
    // The register URL reached the service worker as its script URL's parameter.
    expect(await page.evaluate(() => (globalThis as unknown as KitPage).kit.scriptUrl())).toBe(`${origin}/sdk/herald-sw.js?register=%2Fkit-test%2Fregister`);
    expect(received.register).toEqual([{ body: json, cookie: 'session=u-42' }]);
    expect(json).toEqual({ endpoint: 'https://push.example.net/send/1', expirationTime: null, keys: { p256dh: 'BPp256dhOfTheBrowser', auth: 'authSecret' } });

    // The app's backend then registers it with Herald under its own key; the browser never held one.
    const registered = await app.inject({
      method: 'POST',
      url: '/v1/recipients/u-42/webpush',
      headers: { authorization: `Bearer ${PUBLISH_KEY}` },
      payload: received.register[0]!.body as object,
    });
    expect(registered.statusCode).toBe(201);
  });

  it('reuses the subscription on a second call and hands it to a register function', async () => {
    // Another script URL (no register parameter) makes a new version of the worker: subscribe()
    // returns once that version is the active one, not while the old one still serves pushes.
    const { json, worker } = await page.evaluate(async () => {
      const { kit } = globalThis as unknown as KitPage;
      const subscription = await kit.subscribe('function');
      const registration = await (globalThis as unknown as PageScope).navigator.serviceWorker.getRegistration('/sdk/');
      return {
        json: subscription,
        worker: { url: registration?.active?.scriptURL, state: registration?.active?.state, newer: Boolean(registration?.installing ?? registration?.waiting) },
      };
    });
    expect(worker).toEqual({ url: `${origin}/sdk/herald-sw.js`, state: 'activated', newer: false });
    expect(await page.evaluate(() => (globalThis as unknown as KitPage).kit.pushServiceCalls.length)).toBe(1);
    expect(await page.evaluate(() => (globalThis as unknown as KitPage).kit.handedToFunction)).toEqual([json]);
    expect(json.endpoint).toBe('https://push.example.net/send/1');
  });
});

describe('the kit on an app page of another origin', { timeout: TEST_TIMEOUT_MS }, () => {
  it("imports herald-push.js from Herald and reads Herald's VAPID key", async () => {
    const other = await browser.context.newPage();
    await other.goto(`${origin.replace('localhost', '127.0.0.1')}/kit-test/elsewhere`);
    await other.waitForFunction(() => 'imported' in globalThis, undefined, { timeout: BROWSER_DEADLINE_MS });
    expect(await other.evaluate(() => (globalThis as unknown as { imported: unknown }).imported)).toEqual({
      subscribe: 'function',
      publicKey: VAPID.publicKey,
    });
    await other.close();
  });
});

describe('herald-sw.js', { timeout: TEST_TIMEOUT_MS }, () => {
  it("shows Herald's payload: title, body, the icon from data.icon, and the collapseKey as its tag", async () => {
    const url = `${origin}/kit-test/opened/1`;
    await push(
      notification('n-shown', {
        title: 'New message',
        message: 'Alice: are you there?',
        url,
        category: 'chat',
        collapseKey: 'room-1',
        data: { icon: `${origin}/kit-test/icon.png`, url: `${origin}/kit-test/not-this-one` },
      }),
    );
    const desktop = await daemon.waitFor((n) => n.summary === 'New message', BROWSER_DEADLINE_MS);
    expect(desktop.body).toContain('Alice: are you there?');
    const shown = await shownAfterDesktop('room-1', (n) => n === desktop);
    expect(shown).toHaveLength(1);
    expect(shown[0]).toEqual({
      title: 'New message',
      body: 'Alice: are you there?',
      tag: 'room-1',
      icon: `${origin}/kit-test/icon.png`,
      data: {
        herald: { id: 'n-shown', url, category: 'chat', priority: 5 },
        data: { icon: `${origin}/kit-test/icon.png`, url: `${origin}/kit-test/not-this-one` },
      },
    });
  });

  it("on click, opens the payload's url, never data.url, and closes the notification", async () => {
    const url = `${origin}/kit-test/opened/click`;
    await push(notification('n-click', { title: 'Click me', url, collapseKey: 'click', data: { url: `${origin}/kit-test/not-this-one` } }));
    const desktop = await daemon.waitFor((n) => n.summary === 'Click me', BROWSER_DEADLINE_MS);
    const opened = browser.context.waitForEvent('page', { timeout: BROWSER_DEADLINE_MS });
    daemon.click(desktop.id);
    const newPage = await opened;
    await newPage.waitForURL(url);
    expect(newPage.url()).toBe(url);
    await until(
      async () => daemon.closed,
      (closed) => closed.includes(desktop.id),
      BROWSER_DEADLINE_MS,
    );
    expect(await shownWithTag('click')).toEqual([]);
  });

  it('on click, focuses a window already at the url instead of opening another', async () => {
    const already = `${origin}/kit-test/opened/focus`;
    const existing = await browser.context.newPage();
    await existing.goto(already);
    await push(notification('n-focus', { title: 'Already open', url: already, collapseKey: 'focus' }));
    const focus = await daemon.waitFor((n) => n.summary === 'Already open', BROWSER_DEADLINE_MS);
    // The worker's window calls, recorded as they settle (the worker's own code runs unchanged
    // inside). Whether a click opened a window cannot be told from the pages alone: a window it
    // opened could appear any time later.
    await kitWorker().evaluate(() => {
      const scope = globalThis as unknown as WorkerScope;
      const calls: WindowCall[] = [];
      scope.windowCalls = calls;
      const record = (name: string, url: string, call: Promise<unknown>) =>
        call.then(
          () => void calls.push({ name, url, ok: true }),
          () => void calls.push({ name, url, ok: false }),
        );
      const openWindow = scope.clients.openWindow.bind(scope.clients);
      scope.clients.openWindow = (url: string) => {
        const call = openWindow(url);
        void record('openWindow', url, call);
        return call;
      };
      const focusWindow = scope.WindowClient.prototype.focus;
      scope.WindowClient.prototype.focus = function (this: { url: string }) {
        const call = focusWindow.call(this);
        void record('focus', this.url, call);
        return call;
      };
    });
    daemon.click(focus.id);
    const calls = await until(
      () => kitWorker().evaluate(() => (globalThis as unknown as WorkerScope).windowCalls ?? []),
      (list) => list.length > 0,
      BROWSER_DEADLINE_MS,
    );
    expect(calls).toEqual([{ name: 'focus', url: already, ok: true }]);
    expect(browser.context.pages().filter((p) => p.url() === already)).toHaveLength(1);
    await existing.close();
  });

  it('replaces a notification shown with the same tag (collapseKey) instead of adding one', async () => {
    await push(notification('n-first', { title: 'Room 9', message: 'first', collapseKey: 'room-9' }));
    const first = await shownAfterDesktop('room-9', (n) => n.summary === 'Room 9' && n.body.includes('first'));
    expect(first.map((shown) => shown.data.herald.id)).toEqual(['n-first']);
    await push(notification('n-second', { title: 'Room 9', message: 'second', collapseKey: 'room-9' }));
    const second = await shownAfterDesktop('room-9', (n) => n.summary === 'Room 9' && n.body.includes('second'));
    expect(second.map((shown) => ({ id: shown.data.herald.id, body: shown.body }))).toEqual([{ id: 'n-second', body: 'second' }]);
    // On the desktop too it took the first one's place rather than adding one.
    const desktop = daemon.shown.filter((n) => n.summary === 'Room 9');
    expect(desktop.map((n) => n.id)).toEqual([desktop[0]!.id, desktop[0]!.id]);
  });

  it('shows a push without a title under the site name, and one that is not JSON as its text', async () => {
    await push(notification('n-untitled', { message: 'no title', collapseKey: 'untitled' }));
    const untitled = await shownAfterDesktop('untitled', (n) => n.summary === 'localhost' && n.body.includes('no title'));
    expect(untitled).toMatchObject([{ title: 'localhost', body: 'no title' }]);
    const registrationId = await subscribedRegistration();
    await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: 'plain words' });
    await daemon.waitFor((n) => n.summary === 'localhost' && n.body.includes('plain words'), BROWSER_DEADLINE_MS);
  });

  it("on pushsubscriptionchange, posts the new subscription to the page's register endpoint, with the site's cookies", async () => {
    await subscribedRegistration();
    const before = received.register.length;
    await kitWorker().evaluate(() => {
      const scope = globalThis as unknown as WorkerScope;
      const event = new scope.ExtendableEvent('pushsubscriptionchange');
      const renewed = { endpoint: 'https://push.example.net/renewed', expirationTime: null, keys: { p256dh: 'BRenewed', auth: 'renewedAuth' } };
      Object.defineProperty(event, 'newSubscription', { value: { toJSON: () => renewed } });
      Object.defineProperty(event, 'oldSubscription', { value: null });
      scope.dispatchEvent(event);
    });
    const after = await until(
      async () => received.register.slice(before),
      (list) => list.length === 1,
      BROWSER_DEADLINE_MS,
    );
    expect(after).toEqual([
      {
        body: { endpoint: 'https://push.example.net/renewed', expirationTime: null, keys: { p256dh: 'BRenewed', auth: 'renewedAuth' } },
        cookie: 'session=u-42',
      },
    ]);
  });

  it('subscribes again with the old key when the browser gave no new subscription, then posts it', async () => {
    await subscribedRegistration();
    const before = received.register.length;
    const key = [...Buffer.from(VAPID.publicKey, 'base64url')];
    await kitWorker().evaluate((oldKey) => {
      const scope = globalThis as unknown as WorkerScope;
      scope.renewCalls = [];
      // The browser's push service is out of reach offline: a stand-in at the PushManager boundary.
      scope.registration.pushManager.subscribe = async (options) => {
        scope.renewCalls!.push([...new Uint8Array(options.applicationServerKey)]);
        return { toJSON: () => ({ endpoint: 'https://push.example.net/resubscribed', keys: { p256dh: 'BAgain', auth: 'againAuth' } }) };
      };
      const event = new scope.ExtendableEvent('pushsubscriptionchange');
      Object.defineProperty(event, 'newSubscription', { value: null });
      Object.defineProperty(event, 'oldSubscription', { value: { options: { applicationServerKey: Uint8Array.from(oldKey).buffer } } });
      scope.dispatchEvent(event);
    }, key);
    const after = await until(
      async () => received.register.slice(before),
      (list) => list.length === 1,
      BROWSER_DEADLINE_MS,
    );
    expect(after[0]!.body).toEqual({ endpoint: 'https://push.example.net/resubscribed', keys: { p256dh: 'BAgain', auth: 'againAuth' } });
    expect(await kitWorker().evaluate(() => (globalThis as unknown as WorkerScope).renewCalls)).toEqual([key]);
  });
});

describe('unsubscribe() in the page', { timeout: TEST_TIMEOUT_MS }, () => {
  it('drops the browser subscription and hands the old one to unregister', async () => {
    const subscribed = await page.evaluate(() => (globalThis as unknown as KitPage).kit.subscribe('url'));
    expect(await page.evaluate(() => (globalThis as unknown as KitPage).kit.unsubscribe())).toBe(true);
    expect(received.unregister.map((r) => r.body)).toEqual([subscribed]);
    expect(await page.evaluate(() => (globalThis as unknown as KitPage).kit.unsubscribe())).toBe(false);
    expect(received.unregister).toHaveLength(1);
  });
});
